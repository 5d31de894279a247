//! The embedded S3-compatible server: s3s-fs over a data directory, on loopback, verifying SigV4,
//! with each object's writes serialized so conditional writes are atomic.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use hyper_util::rt::TokioIo;
use s3s::S3Result;
use s3s::auth::SimpleAuth;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::locked_fs::LockedFs;

/// A running server; it stops when dropped.
pub struct S3Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl S3Server {
    /// Serves `data_dir` on `listener`, accepting only requests signed with this key pair.
    pub fn start(
        listener: TcpListener,
        data_dir: &Path,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<S3Server> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let mut builder = S3ServiceBuilder::new(LockedFs::new(data_dir)?);
        builder.set_host(LocalhostBuckets);
        builder.set_auth(SimpleAuth::from_single(access_key_id, secret_access_key));
        let service = builder.build();
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, service));
        Ok(S3Server { addr, task })
    }

    /// Binds `addr` (port 0 picks a free one) and starts serving.
    pub async fn bind(
        addr: SocketAddr,
        data_dir: &Path,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<S3Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        S3Server::start(listener, data_dir, access_key_id, secret_access_key)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Virtual-hosted requests through `<bucket>.localhost` (which resolves to loopback, as curl,
/// browsers and the s3cache host resolve it); any other host is addressed path-style.
struct LocalhostBuckets;

impl S3Host for LocalhostBuckets {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        Ok(match name.strip_suffix(".localhost") {
            Some(bucket) if !bucket.is_empty() => VirtualHost::new(host).with_bucket(bucket),
            _ => VirtualHost::new(host),
        })
    }
}

async fn accept_loop(listener: TcpListener, service: S3Service) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of file descriptors, say: back off rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        // Without it, keep-alive clients wait 25-40 ms per request on Nagle and delayed ACKs.
        let _ = socket.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}
