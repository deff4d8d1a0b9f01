// Command zsync-peers-go is the Go peer of zsync's benchmark runner (benches/peers): the
// workloads of docs/BENCHMARKS.md written with goroutines, channels and sync, run as a child
// process of the runner.
//
//	zsync-peers-go micro KEY WORKERS [--quick]   # prints the result on its last line
//	zsync-peers-go server echo|http WORKERS ADDR # prints its address, then serves
package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: zsync-peers-go micro KEY WORKERS [--quick] | server echo|http WORKERS ADDR")
		os.Exit(2)
	}
	workers, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad worker count:", err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(workers)
	switch os.Args[1] {
	case "micro":
		scale := 1
		if len(os.Args) > 4 && os.Args[4] == "--quick" {
			scale = 10
		}
		micro(os.Args[2], scale)
	case "server":
		if len(os.Args) < 5 {
			fmt.Fprintln(os.Stderr, "server needs an address")
			os.Exit(2)
		}
		serve(os.Args[2] == "http", os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

func perOp(start time.Time, ops int) float64 {
	return float64(time.Since(start).Nanoseconds()) / float64(ops)
}

func micro(key string, scale int) {
	switch key {
	case "B2":
		fmt.Println(b2(200000 / scale))
	case "B3":
		fmt.Println(b3(2000000 / scale))
	case "B4":
		fmt.Println(b4(200000 / scale))
	case "B5":
		b5(100000)
	case "B6":
		b6(1000000/scale, 10000)
	case "B8":
		fmt.Println(b8(1000000 / scale))
	case "B9":
		fmt.Println(b9(64, 100000/scale))
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", key)
		os.Exit(2)
	}
}

// B2: spawn n goroutines in a batch, then join each in order (a result channel per goroutine).
func b2(n int) float64 {
	start := time.Now()
	results := make([]chan int, n)
	for i := 0; i < n; i++ {
		ch := make(chan int, 1)
		results[i] = ch
		go func(i int) { ch <- i }(i)
	}
	sum := 0
	for _, ch := range results {
		sum += <-ch
	}
	if sum != n*(n-1)/2 {
		panic("wrong sum")
	}
	return perOp(start, n)
}

// B3: one goroutine yielding n times.
func b3(n int) float64 {
	done := make(chan float64)
	go func() {
		start := time.Now()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		done <- perOp(start, n)
	}()
	return <-done
}

// B4: ping-pong over two channels between two goroutines, n round trips.
func b4(n int) float64 {
	ping := make(chan uint32, 1)
	pong := make(chan uint32, 1)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	done := make(chan float64)
	go func() {
		start := time.Now()
		for i := uint32(0); i < uint32(n); i++ {
			ping <- i
			if <-pong != i {
				panic("wrong value")
			}
		}
		done <- perOp(start, n)
	}()
	result := <-done
	close(ping)
	return result
}

// residentBytes is this process's resident set size.
func residentBytes() int {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	pages, err := strconv.Atoi(strings.Fields(string(statm))[1])
	if err != nil {
		panic(err)
	}
	return pages * os.Getpagesize()
}

// park starts goroutines blocked on one channel in batches, calling report with the count
// parked after each batch has settled.
func park(n, batch int, report func(int)) {
	var started int64
	release := make(chan struct{})
	count := 0
	for count < n {
		for k := 0; k < batch && count < n; k++ {
			go func() {
				atomic.AddInt64(&started, 1)
				<-release
			}()
			count++
		}
		for atomic.LoadInt64(&started) < int64(count) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		report(count)
	}
}

// B5: KiB of resident memory per parked goroutine, n parked.
func b5(n int) {
	runtime.GC()
	before := residentBytes()
	park(n, n, func(count int) {
		fmt.Println(float64(residentBytes()-before) / float64(count) / 1024)
	})
}

// B6: park up to n goroutines, printing the count after each batch.
func b6(n, batch int) {
	park(n, batch, func(count int) { fmt.Println(count) })
}

// B8: n goroutines each sleeping a random 0-100 ms; wall time in ms.
func b8(n int) float64 {
	rng := rand.New(rand.NewSource(1))
	sleeps := make([]time.Duration, n)
	for i := range sleeps {
		sleeps[i] = time.Duration(rng.Int63n(100000)) * time.Microsecond
	}
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for _, d := range sleeps {
		go func(d time.Duration) {
			time.Sleep(d)
			wg.Done()
		}(d)
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / 1e6
}

// B9: tasks goroutines each incrementing a shared counter k times under one sync.Mutex.
func b9(tasks, k int) float64 {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	wg.Add(tasks)
	start := time.Now()
	for t := 0; t < tasks; t++ {
		go func() {
			for i := 0; i < k; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	if counter != tasks*k {
		panic("wrong count")
	}
	return perOp(start, tasks*k)
}

var response = []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!")

// serve runs the echo (B7) or HTTP hello (B11) server: a goroutine per connection, the same
// logic as the Rust servers.
func serve(http bool, addr string) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	fmt.Println(listener.Addr().String())
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue
		}
		if http {
			go httpConn(conn)
		} else {
			go echoConn(conn)
		}
	}
}

func echoConn(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 8192)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func httpConn(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 8192)
	filled := 0
	end := []byte("\r\n\r\n")
	for {
		n, err := conn.Read(buf[filled:])
		if n == 0 || err != nil {
			return
		}
		filled += n
		// Count the complete requests, shift out what was consumed.
		count, start := 0, 0
		for {
			i := bytes.Index(buf[start:filled], end)
			if i < 0 {
				break
			}
			start += i + len(end)
			count++
		}
		copy(buf, buf[start:filled])
		filled -= start
		if count > 0 {
			if _, err := conn.Write(bytes.Repeat(response, count)); err != nil {
				return
			}
		}
	}
}
