//! The parent's ends of a child's standard streams: `ChildStdin`, `ChildStdout`, `ChildStderr`,
//! pipe ends of the shape in `crate::io::pipe` (O_NONBLOCK on the parent's end only, the
//! child's is another open file description; blocking mode restored when handed to std).

use crate::io::pipe::{pipe_end, readable, writable};

pipe_end!(
    /// The write end of a child's standard input, like `std::process::ChildStdin`: writes
    /// park the green thread while the pipe is full. Dropping it closes the pipe (the child
    /// sees the end of its input).
    ChildStdin,
    std::process::ChildStdin
);
pipe_end!(
    /// The read end of a child's standard output, like `std::process::ChildStdout`: reads
    /// park the green thread until the child writes (or exits: then 0, the end).
    ChildStdout,
    std::process::ChildStdout
);
pipe_end!(
    /// The read end of a child's standard error, like `std::process::ChildStderr`.
    ChildStderr,
    std::process::ChildStderr
);

readable!(ChildStdout);
readable!(ChildStderr);

writable!(ChildStdin);
