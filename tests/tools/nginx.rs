//! Debian's nginx for the tests (the gateway tests and the deployment recipe): run as the current
//! user in the foreground, one process, with every path (configuration, pid, logs, temp
//! directories) in its own temp dir, so nothing under /etc or /var is read or written; killed on
//! drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Reply, TempDir, TestServer, tool};

pub(crate) struct Nginx {
    process: TestServer,
    dir: TempDir,
}

impl Nginx {
    /// Starts nginx with `site` (what goes in the `http {}` context, as a file in
    /// /etc/nginx/conf.d/ would; it must listen on 127.0.0.1:`port`) and waits until that port
    /// accepts. Nothing else is set: nginx's defaults (buffer sizes above all) hold.
    pub(crate) fn start(port: u16, site: &str) -> Nginx {
        let dir = TempDir::new("nginx");
        std::fs::write(dir.join("site.conf"), site).expect("write site.conf");
        let d = dir.join("");
        let d = d.display();
        let main = format!(
            "daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {d}nginx.pid;\n\
             error_log {d}error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20   access_log {d}access.log;\n\
             \x20   client_body_temp_path {d}client_body;\n\
             \x20   proxy_temp_path {d}proxy;\n\
             \x20   fastcgi_temp_path {d}fastcgi;\n\
             \x20   uwsgi_temp_path {d}uwsgi;\n\
             \x20   scgi_temp_path {d}scgi;\n\
             \x20   include {d}site.conf;\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
        let mut command = Command::new(tool("nginx"));
        command
            .arg("-p")
            .arg(dir.join(""))
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        let process = TestServer::spawn(command, SocketAddr::from(([127, 0, 0, 1], port)));
        Nginx { process, dir }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    /// A file in nginx's directory, for what a test keeps beside it.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub(crate) fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// What nginx printed and its error log, for a failure message.
    pub(crate) fn logs(&self) -> String {
        format!("{}\n{}", self.process.output(), self.error_log())
    }

    /// One plain-HTTP GET on its own connection (`Connection: close`), `Host` the address.
    pub(crate) fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.process.get(target, headers)
    }
}
