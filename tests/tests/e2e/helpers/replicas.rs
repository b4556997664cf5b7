//! N identity-server replicas on one real Redis behind a round-robin TCP forwarder: the
//! scale-out topology of README.md, in-process. TLS stays end to end (every replica serves the
//! run's `localhost` certificate), and the forwarder picks the next live replica for every new
//! connection, so a browser that opens one connection per request
//! ([`super::web::WebBrowser::new_unpooled`]) lands each step on another replica.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use redis_testkit::{Durability, RedisServer};
use tokio::net::{TcpListener, TcpStream};

use super::tls;

/// The round-robin forwarder in front of the replicas.
#[derive(Debug, Clone)]
pub struct Forwarder {
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    next: Arc<AtomicUsize>,
    /// Connections forwarded to each backend index.
    served: Arc<Mutex<Vec<usize>>>,
    /// The index that took the last connection.
    last: Arc<AtomicUsize>,
}

impl Forwarder {
    /// Forwards connections accepted on `listener` to `backends`.
    pub fn start(listener: std::net::TcpListener, backends: Vec<SocketAddr>) -> Forwarder {
        let n = backends.len();
        let fwd = Forwarder {
            backends: Arc::new(Mutex::new(backends)),
            next: Arc::new(AtomicUsize::new(0)),
            served: Arc::new(Mutex::new(vec![0; n])),
            last: Arc::new(AtomicUsize::new(usize::MAX)),
        };
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let me = fwd.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let Some((index, mut outbound)) = me.connect().await else {
                        return;
                    };
                    me.last.store(index, Ordering::SeqCst);
                    if let Some(count) = me.served.lock().unwrap().get_mut(index) {
                        *count += 1;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        fwd
    }

    /// The next backend that accepts a connection, round robin, skipping ones that refuse.
    async fn connect(&self) -> Option<(usize, TcpStream)> {
        let backends = self.backends.lock().unwrap().clone();
        for _ in 0..backends.len() {
            let i = self.next.fetch_add(1, Ordering::SeqCst) % backends.len();
            if let Ok(stream) = TcpStream::connect(backends[i]).await {
                return Some((i, stream));
            }
        }
        None
    }

    /// Replaces the backend at `index` (a restarted replica on a new port).
    pub fn set_backend(&self, index: usize, addr: SocketAddr) {
        self.backends.lock().unwrap()[index] = addr;
    }

    /// Connections each replica took so far.
    pub fn served(&self) -> Vec<usize> {
        self.served.lock().unwrap().clone()
    }

    /// The replica that took the last connection.
    pub fn last(&self) -> usize {
        self.last.load(Ordering::SeqCst)
    }
}

/// The replicas, their Redis and the forwarder.
#[derive(Debug)]
pub struct Replicas {
    /// The shared Redis (append-only file, fsync always), owned by the test.
    pub redis: Mutex<RedisServer>,
    /// The forwarder at the issuer's address.
    pub forwarder: Forwarder,
    handles: Mutex<Vec<Option<ServerHandle>>>,
    settings: identity_server::configuration::Settings,
}

impl Replicas {
    /// Starts Redis and `n` replicas with `settings` (the store URL and shared keys are set
    /// here) behind a forwarder on `listener`. `None` when Redis is missing and not required.
    pub async fn start(
        n: usize,
        mut settings: identity_server::configuration::Settings,
        listener: std::net::TcpListener,
    ) -> Option<Replicas> {
        let redis = RedisServer::require_with(Durability::AppendFsyncAlways)?;
        settings.store.url = Some(identity_server::domain::Secret::new(redis.url()));
        settings.store.timeout_ms = 1000;
        // Every replica must sign with the same key and check the same CSRF tokens.
        settings.keys.csrf_secret = Some(identity_server::domain::Secret::new(
            "6b1f0d9c2a7e4b3f8c5d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
        ));
        let mut handles = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..n {
            let (handle, addr) = start_replica(&settings).await;
            handles.push(Some(handle));
            addrs.push(addr);
        }
        let forwarder = Forwarder::start(listener, addrs);
        Some(Replicas {
            redis: Mutex::new(redis),
            forwarder,
            handles: Mutex::new(handles),
            settings,
        })
    }

    /// Stops replica `index` (its connections are cut; its memory is gone).
    pub async fn stop(&self, index: usize) {
        let handle = self.handles.lock().unwrap()[index].take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Stops every replica and starts new ones (new processes' worth of state: nothing kept in
    /// memory survives).
    pub async fn restart_all(&self) {
        let count = self.handles.lock().unwrap().len();
        for i in 0..count {
            self.stop(i).await;
        }
        for i in 0..count {
            let (handle, addr) = start_replica(&self.settings).await;
            self.handles.lock().unwrap()[i] = Some(handle);
            self.forwarder.set_backend(i, addr);
        }
    }

    /// All server handles still running (for the system's drop).
    pub fn handles(&self) -> Vec<ServerHandle> {
        self.handles
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }
}

async fn start_replica(
    settings: &identity_server::configuration::Settings,
) -> (ServerHandle, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a replica");
    let addr = listener.local_addr().expect("replica address");
    let app = identity_server::startup::Application::build_with(
        settings.clone(),
        listener,
        tls().clone(),
    )
    .await
    .expect("replica starts");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (handle, addr)
}
