//! A front-end binary (`grpc-as`, `restful-as`) as a child process on port 0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A running binary, killed and reaped when dropped.
pub struct Running {
    child: Child,
    /// The address it printed in its `listening on` line.
    pub addr: SocketAddr,
}

impl Running {
    /// Starts `bin` with `args` and waits for its first stdout line, which must be
    /// `<name> listening on <ip:port>`.
    pub fn start(bin: &str, name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix(&format!("{name} listening on "))
            .unwrap_or_else(|| panic!("unexpected first line of {name}: {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
