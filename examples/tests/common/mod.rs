//! Starting an example server and talking to it.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// An example binary running as a child process; killed if the test fails.
pub struct Running {
    pub child: Child,
    pub address: String,
    pub stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Starts `binary` with `--port 0` and waits for its "listening on http://…" line.
    pub fn start(binary: &str) -> Running {
        Self::start_with(binary, &[])
    }

    /// Starts `binary` with `--port 0` and `args`, and waits for its "listening on" line.
    pub fn start_with(binary: &str, args: &[&str]) -> Running {
        Self::start_on(binary, "0", args)
    }

    /// Starts `binary` with `--port port` and `args`, and waits for its "listening on" line.
    pub fn start_on(binary: &str, port: &str, args: &[&str]) -> Running {
        let mut child = Command::new(binary)
            .args(["--port", port])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Running {
            child,
            address,
            stdout,
        }
    }

    /// Sends one request (closing the connection after it) and returns the whole response.
    pub fn request(&self, raw: &str) -> String {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        // Bytes, then text with anything not UTF-8 replaced: a compressed body is not text.
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }

    /// `GET path` with `Connection: close`.
    pub fn get(&self, path: &str) -> String {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Sends `signal` (`-TERM`, `-INT`) and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and returns the rest of its standard output once it exits successfully.
    pub fn terminate(mut self) -> String {
        self.signal("-TERM");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
        rest
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
