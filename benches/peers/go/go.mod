module zsyncpeers

go 1.19
