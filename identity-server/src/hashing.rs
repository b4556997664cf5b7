//! Argon2id in bounded memory: a small pool of dedicated hashing threads, each with one
//! preallocated memory block that every hash on it reuses, behind a bound on hashes in flight.
//!
//! Every Argon2id hash or verification needs `m` KiB of working memory (19 MiB at the OWASP
//! default m = 19456) and ~12 ms of one core. Unauthenticated requests trigger them (wrong
//! client secrets at the token endpoint, password guesses at the login page, account creation).
//! Allocating that memory per hash made every login fault in 19 MiB of fresh pages (two thirds
//! of a login's CPU) and left the freed blocks in the allocator: 486 logins took the server from
//! 13 MB to 6.7 GB of resident memory. So:
//!
//! - [`HashingPool::start`] starts `permits` std threads (not tokio's blocking pool, whose
//!   threads come and go) and gives each one a block of `hashing.memory_kib` KiB, allocated and
//!   touched once, before the pool answers. Every hash on that thread runs in that block through
//!   argon2's caller-provided-memory API ([`argon2::Argon2::hash_password_into_with_memory`]):
//!   **no allocation per hash while hashes keep coming, and the resident memory of hashing is
//!   at most `permits x memory_kib` KiB, whatever the load.** A thread that has had no job for
//!   `hashing.idle_release_secs` gives its block back ([`Memory::release`]) and allocates it
//!   again for its next hash, so that the memory of a burst goes back to the system (the first
//!   hash after a pause pays the page faults of one block).
//! - [`run_limited`] admits a job once one of the `permits` is free, waiting at most
//!   [`PERMIT_WAIT`]; past it the request is answered 503 ([`Busy`]) instead of queueing without
//!   bound. Permits and threads are equal in number, so the job queue between them never holds
//!   more than `permits` jobs.
//! - New hashes use the configured parameters ([`crate::configuration::HashingSettings`]);
//!   existing hashes verify with the parameters in their PHC string. A stored hash that needs
//!   more memory than the block (an account created before `memory_kib` was lowered) is verified
//!   with a one-off allocation under the same permit, so at most `permits` such blocks exist at
//!   once; configured users and clients are checked at start-up instead and refused there.
//! - An unknown username verifies a dummy hash with the current parameters ([`Memory::verify`]
//!   with `None`), so "no such user" costs exactly what "wrong password" costs.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::{AppError, ErrorCode, OAuthError};
use crate::state::AppState;

/// How long a request waits for a hashing permit before it is answered 503.
pub const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// The most memory one verification may take, in KiB (1 GiB, also the largest `memory_kib` the
/// settings accept): a stored hash asking for more is refused rather than allowed to exhaust
/// memory.
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;

/// Length of the hash output of new hashes, in bytes (argon2's default).
const OUTPUT_LEN: usize = 32;

/// No hashing permit became free in time (or the pool failed): the server is busy.
///
/// As a response it is the HTML "busy" page (503); OAuth endpoints convert it into
/// `temporarily_unavailable` JSON (503) through `From<Busy> for OAuthError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy")]
pub struct Busy;

/// The message of the HTML busy page.
pub const BUSY_MESSAGE: &str = "The server is busy. Please try again in a moment.";

impl From<Busy> for OAuthError {
    fn from(_: Busy) -> Self {
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is busy, try again later",
        )
    }
}

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError::Unavailable {
            message: BUSY_MESSAGE.into(),
            cause: "no argon2 permit within the wait".into(),
        }
    }
}

impl ResponseError for Busy {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        crate::error::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            BUSY_MESSAGE,
        )
    }
}

/// Why a password could not be hashed or a hash could not be checked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The stored value is not a PHC string of an Argon2 hash with salt and output.
    #[error("not an argon2 phc string: {0}")]
    NotPhc(String),
    /// The hash needs more memory than [`MAX_MEMORY_KIB`].
    #[error("the hash needs '{0}' KiB of memory, more than the limit of {MAX_MEMORY_KIB} KiB")]
    TooMuchMemory(u32),
    /// Argon2 refused the parameters or the input.
    #[error("argon2: {0}")]
    Argon2(String),
}

/// Parameters of new hashes: Argon2id, version 0x13, `m` KiB, `t` passes, `p` lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewHashParams {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over the memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`). This implementation computes the lanes one after the other on one thread.
    pub parallelism: u32,
}

impl NewHashParams {
    /// OWASP's first recommendation for Argon2id: m = 19456 KiB (19 MiB), t = 2, p = 1.
    pub const OWASP: NewHashParams = NewHashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// The argon2 parameters; `Err` names what argon2 refused.
    pub fn argon2(&self) -> Result<Params, HashError> {
        if self.memory_kib > MAX_MEMORY_KIB {
            return Err(HashError::TooMuchMemory(self.memory_kib));
        }
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|e| HashError::Argon2(e.to_string()))
    }
}

/// What a stored PHC string asks for, parsed once.
struct Parsed<'a> {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: &'a [u8],
    expected: Output,
}

fn parse<'a>(phc: &str, salt_buf: &'a mut [u8; 64]) -> Result<Parsed<'a>, HashError> {
    let hash = PasswordHash::new(phc).map_err(|e| HashError::NotPhc(e.to_string()))?;
    let algorithm =
        Algorithm::try_from(hash.algorithm).map_err(|e| HashError::NotPhc(e.to_string()))?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| HashError::NotPhc(e.to_string()))?
        .unwrap_or_default();
    let params = Params::try_from(&hash).map_err(|e| HashError::NotPhc(e.to_string()))?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(HashError::TooMuchMemory(params.m_cost()));
    }
    let salt = hash
        .salt
        .ok_or_else(|| HashError::NotPhc("no salt".into()))?
        .decode_b64(salt_buf)
        .map_err(|e| HashError::NotPhc(e.to_string()))?;
    let expected = hash
        .hash
        .ok_or_else(|| HashError::NotPhc("no hash output".into()))?;
    Ok(Parsed {
        algorithm,
        version,
        params,
        salt,
        expected,
    })
}

/// The memory a PHC string needs, in KiB (`m`), after checking that it parses.
pub fn memory_kib_of(phc: &str) -> Result<u32, HashError> {
    let mut salt = [0u8; 64];
    Ok(parse(phc, &mut salt)?.params.m_cost())
}

fn phc_string(params: &Params, salt: &SaltString, output: &[u8]) -> Result<String, HashError> {
    let argon2 = |e: argon2::password_hash::Error| HashError::Argon2(e.to_string());
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(argon2)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(output).map_err(argon2)?),
    };
    Ok(hash.to_string())
}

/// A block of `memory_kib` KiB, every page written (resident from here on, not faulted in by
/// the first hash under load). An allocation the system refuses is an error, not an abort.
fn blocks_for(memory_kib: u32) -> Result<Vec<Block>, HashError> {
    let n = memory_kib as usize;
    let mut blocks = Vec::new();
    blocks
        .try_reserve_exact(n)
        .map_err(|e| HashError::Argon2(format!("cannot allocate the hashing block: {e}")))?;
    blocks.resize(n, Block::default());
    Ok(blocks)
}

/// One hashing thread's working memory and the parameters of new hashes.
///
/// [`run_limited`] hands a job the `Memory` of the thread it runs on. Outside the pool (tests,
/// benchmarks) [`Memory::new`] makes one.
pub struct Memory {
    blocks: Vec<Block>,
    new_hash: Params,
    dummy: Arc<str>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("block_kib", &self.block_kib())
            .field("resident", &self.is_resident())
            .field("new_hash", &self.new_hash)
            .finish_non_exhaustive()
    }
}

/// A PHC string with the parameters of new hashes, a random salt and a random output: verifying
/// against it costs what verifying a real hash costs, and no password matches it (the caller
/// refuses anyway).
fn dummy_hash(params: &Params) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut output = [0u8; OUTPUT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut output);
    phc_string(params, &salt, &output)
}

impl Memory {
    /// A block of `params.memory_kib` KiB (allocated and touched now) for hashes with `params`.
    pub fn new(params: NewHashParams) -> Result<Self, HashError> {
        let new_hash = params.argon2()?;
        let dummy = Arc::from(dummy_hash(&new_hash)?);
        Self::with_dummy(new_hash, dummy)
    }

    fn with_dummy(new_hash: Params, dummy: Arc<str>) -> Result<Self, HashError> {
        Ok(Self {
            blocks: blocks_for(new_hash.m_cost())?,
            new_hash,
            dummy,
        })
    }

    /// Size of the block in KiB (whether or not it is resident at the moment).
    pub fn block_kib(&self) -> usize {
        self.new_hash.m_cost() as usize
    }

    /// Whether the block is allocated (it is given back after an idle spell, [`Memory::release`]).
    pub fn is_resident(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// Gives the block back to the system (a hashing thread does so after
    /// `hashing.idle_release_secs` without a hash); the next hash allocates it again.
    pub fn release(&mut self) {
        self.blocks = Vec::new();
    }

    /// The block, allocated (and touched) again if it was released. An allocation the system
    /// refuses is an error for this hash (503 for its request), not an abort of the process.
    fn blocks(&mut self) -> Result<&mut [Block], HashError> {
        if self.blocks.is_empty() {
            self.blocks = blocks_for(self.new_hash.m_cost())?;
        }
        Ok(&mut self.blocks)
    }

    /// Hashes `password` with the parameters of new hashes and a fresh random salt into a PHC
    /// string, in this block.
    pub fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let mut output = [0u8; OUTPUT_LEN];
        let params = self.new_hash.clone();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password, salt_bytes, &mut output, self.blocks()?)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        phc_string(&self.new_hash, &salt, &output)
    }

    /// Whether `password` matches the PHC string `phc`, computed with the parameters in `phc` (in
    /// this block when it is large enough, else in a one-off allocation). `None` verifies the
    /// dummy hash of the current parameters and is always `false`. A hash that cannot be checked
    /// (not a PHC string, too much memory) is `false` and logged.
    pub fn verify(&mut self, phc: Option<&str>, password: &[u8]) -> bool {
        let dummy = Arc::clone(&self.dummy);
        match self.check(phc.unwrap_or(&dummy), password) {
            Ok(matches) => matches && phc.is_some(),
            Err(e) => {
                tracing::error!(error = %e, "a password hash cannot be checked; refused");
                false
            }
        }
    }

    /// Like [`Memory::verify`] for a present hash, keeping the reason it could not be checked.
    pub fn check(&mut self, phc: &str, password: &[u8]) -> Result<bool, HashError> {
        let mut salt = [0u8; 64];
        let parsed = parse(phc, &mut salt)?;
        let mut output = [0u8; Output::MAX_LENGTH];
        let output = output
            .get_mut(..parsed.expected.len())
            .ok_or_else(|| HashError::NotPhc("hash output too long".into()))?;
        let argon2 = Argon2::new(parsed.algorithm, parsed.version, parsed.params.clone());
        let hashed = if parsed.params.block_count() <= self.block_kib() {
            argon2.hash_password_into_with_memory(password, parsed.salt, output, self.blocks()?)
        } else {
            // Older, larger parameters: a one-off block under the same permit (see the module doc).
            tracing::debug!(
                memory_kib = parsed.params.m_cost(),
                block_kib = self.block_kib(),
                "verifying a hash larger than the block in a one-off allocation"
            );
            argon2.hash_password_into(password, parsed.salt, output)
        };
        hashed.map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(bool::from(output.ct_eq(parsed.expected.as_bytes())))
    }
}

/// Hashes `password` with `params` in a one-off allocation: for start-up (plaintext passwords in
/// the configuration), never on a request path.
pub fn hash_once(params: NewHashParams, password: &[u8]) -> Result<String, HashError> {
    Memory::new(params)?.hash(password)
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The hashing threads, their memory, and the permits that bound the hashes in flight.
///
/// Dropping the pool (with the [`AppState`]) ends its threads and frees their memory.
pub struct HashingPool {
    permits: Arc<Semaphore>,
    /// One job channel per thread (each holds at most the one job its thread was leased for).
    threads_jobs: Vec<SyncSender<Job>>,
    /// The threads without a job: a permit always finds one here.
    idle: Arc<Mutex<Vec<usize>>>,
    /// Threads found gone (their channel closed): never leased again, and their permits are
    /// retired with them.
    dead: Arc<[AtomicBool]>,
    threads: usize,
    block_kib: u32,
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("threads", &self.threads)
            .field("block_kib", &self.block_kib)
            .finish_non_exhaustive()
    }
}

/// The hashing pool could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Bad parameters.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A thread could not be started.
    #[error("cannot start a hashing thread: {0}")]
    Thread(std::io::Error),
}

/// A thread leased to one job with its permit. Dropped when the job has run (or panicked): the
/// thread goes back to the idle list first, then the permit is freed, so a free permit always
/// finds an idle thread. A thread found gone is not put back, and its permit is retired
/// (`forget`): permits stay equal to the live threads.
struct Lease {
    idle: Arc<Mutex<Vec<usize>>>,
    dead: Arc<[AtomicBool]>,
    thread: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let gone = self
            .dead
            .get(self.thread)
            .is_none_or(|d| d.load(Ordering::SeqCst));
        if gone {
            if let Some(permit) = self.permit.take() {
                permit.forget();
            }
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.thread);
        // The permit is freed after the thread is back.
        drop(self.permit.take());
    }
}

impl HashingPool {
    /// Starts `threads` hashing threads (at least one), each with a block of
    /// `params.memory_kib` KiB, and returns once every block is allocated and resident. A
    /// thread gives its block back after `idle_release` without a job (`None`: never) and
    /// allocates it again for the next one.
    pub fn start(
        threads: usize,
        params: NewHashParams,
        idle_release: Option<Duration>,
    ) -> Result<Self, PoolError> {
        let threads = threads.max(1);
        let new_hash = params.argon2()?;
        let dummy: Arc<str> = Arc::from(dummy_hash(&new_hash)?);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), HashError>>();
        let mut threads_jobs = Vec::with_capacity(threads);
        for i in 0..threads {
            let (jobs, queue) = mpsc::sync_channel::<Job>(1);
            let (ready, new_hash, dummy) = (ready_tx.clone(), new_hash.clone(), Arc::clone(&dummy));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = match Memory::with_dummy(new_hash, dummy) {
                        Ok(memory) => memory,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(()));
                    work(&queue, &mut memory, idle_release);
                })
                .map_err(PoolError::Thread)?;
            threads_jobs.push(jobs);
        }
        drop(ready_tx);
        // Every thread reports once its block is resident, or why it could not allocate it; a
        // thread that died before reporting drops its sender. Either way the pool does not start.
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(PoolError::Hash(e)),
                Err(_) => {
                    return Err(PoolError::Thread(std::io::Error::other(
                        "a hashing thread ended before its memory block was ready",
                    )));
                }
            }
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(threads)),
            threads_jobs,
            idle: Arc::new(Mutex::new((0..threads).rev().collect())),
            dead: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            threads,
            block_kib: params.memory_kib,
        })
    }

    /// The permits, one per thread. Taking them all (tests) makes every hash wait, then 503.
    pub fn permits(&self) -> &Arc<Semaphore> {
        &self.permits
    }

    /// Number of hashing threads (= permits = memory blocks).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Size of each thread's block in KiB.
    pub fn block_kib(&self) -> u32 {
        self.block_kib
    }

    /// Runs `f` on a hashing thread with its [`Memory`] once a permit is free, waiting at most
    /// [`PERMIT_WAIT`]; `Err(Busy)` past it (or if the pool failed).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = tokio::time::timeout(PERMIT_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                tracing::warn!("argon2 permits exhausted; answering busy");
                Busy
            })?
            .map_err(|_| Busy)?;
        let thread = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let Some(thread) = thread else {
            // Cannot happen: a thread goes back to the list before its permit is freed.
            tracing::error!("no idle hashing thread although a permit was free");
            return Err(Busy);
        };
        let lease = Lease {
            idle: Arc::clone(&self.idle),
            dead: Arc::clone(&self.dead),
            thread,
            permit: Some(permit),
        };
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let value = f(memory);
            // The lease (thread and permit) is held until the hash has finished, even if the
            // request was dropped: a free permit always means a free thread.
            drop(lease);
            let _ = reply.send(value);
        });
        let Some(jobs) = self.threads_jobs.get(thread) else {
            tracing::error!("a hashing thread index out of range");
            return Err(Busy);
        };
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                // Cannot happen: a leased thread's channel is empty.
                tracing::error!("a leased hashing thread already has a job");
                return Err(Busy);
            }
            Err(TrySendError::Disconnected(job)) => {
                // Marked before the job (and its lease) is dropped: the thread is not put back
                // and its permit is retired.
                if let Some(dead) = self.dead.get(thread) {
                    dead.store(true, Ordering::SeqCst);
                }
                drop(job);
                tracing::error!(
                    thread,
                    "a hashing thread is gone; the pool goes on without it"
                );
                return Err(Busy);
            }
        }
        // A job that panicked drops `reply` unanswered.
        answer.await.map_err(|_| Busy)
    }
}

/// A hashing thread: takes its jobs until the pool is dropped, and gives its block back after
/// `idle_release` without one.
fn work(queue: &Receiver<Job>, memory: &mut Memory, idle_release: Option<Duration>) {
    loop {
        let job = match idle_release.filter(|_| memory.is_resident()) {
            Some(after) => match queue.recv_timeout(after) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    memory.release();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(memory))).is_err() {
            tracing::error!("a hashing job panicked; the thread goes on");
        }
    }
}

/// Runs the CPU- and memory-heavy `f` (an Argon2id hash or verification, given the hashing
/// thread's [`Memory`]) on the server's [`HashingPool`] once a permit is free, waiting at most
/// [`PERMIT_WAIT`]; `Err(Busy)` (503) past it.
pub async fn run_limited<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Result<T, Busy> {
    state.hashing.run(f).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier as _;

    /// Small parameters so that debug-build tests stay fast.
    const SMALL: NewHashParams = NewHashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_new_hash_is_a_phc_string_that_the_reference_verifier_accepts() {
        let mut memory = Memory::new(SMALL).unwrap();
        let phc = memory.hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
    }

    #[test]
    fn a_hash_made_elsewhere_with_other_parameters_verifies_in_the_block() {
        use argon2::PasswordHasher as _;
        let params = Params::new(32, 3, 2, None).unwrap();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let mut memory = Memory::new(SMALL).unwrap();
        assert!(memory.verify(Some(&phc), b"pw"));
        assert!(!memory.verify(Some(&phc), b"pW"));
    }

    #[test]
    fn the_default_hashes_of_the_quickstart_users_verify() {
        let mut memory = Memory::new(NewHashParams::OWASP).unwrap();
        let settings = crate::configuration::Settings::default();
        let alice = settings.users[0].password_hash.as_deref().unwrap();
        assert!(memory.verify(Some(alice), b"alice"));
        assert!(!memory.verify(Some(alice), b"bob"));
    }

    #[test]
    fn a_hash_larger_than_the_block_verifies_in_a_one_off_allocation() {
        let mut big = Memory::new(NewHashParams {
            memory_kib: 256,
            ..SMALL
        })
        .unwrap();
        let phc = big.hash(b"pw").unwrap();
        let mut small = Memory::new(SMALL).unwrap();
        assert!(small.check(&phc, b"pw").unwrap());
        assert!(!small.check(&phc, b"nope").unwrap());
        assert_eq!(small.block_kib(), 64, "the block did not grow");
    }

    #[test]
    fn no_hash_verifies_the_dummy_and_fails_even_with_any_password() {
        let mut memory = Memory::new(SMALL).unwrap();
        assert!(!memory.verify(None, b""));
        assert!(!memory.verify(None, b"alice"));
        let dummy = Arc::clone(&memory.dummy);
        assert_eq!(memory_kib_of(&dummy).unwrap(), 64, "current parameters");
    }

    #[test]
    fn garbage_and_oversized_hashes_are_refused_not_allocated() {
        let mut memory = Memory::new(SMALL).unwrap();
        assert!(matches!(
            memory.check("plaintext", b"x"),
            Err(HashError::NotPhc(_))
        ));
        let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$K5zCFPIQVlANd9Vf7HFA9l1oxDy1n//SSaSVqVXlRoA";
        assert_eq!(
            memory.check(huge, b"x"),
            Err(HashError::TooMuchMemory(u32::MAX))
        );
        assert!(!memory.verify(Some(huge), b"x"));
    }

    #[tokio::test]
    async fn the_pool_runs_jobs_on_its_threads_and_answers_busy_when_every_permit_is_held() {
        let pool = HashingPool::start(2, SMALL, None).unwrap();
        let name = pool
            .run(|_| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("argon2-"));
        let phc = pool.run(|m| m.hash(b"pw")).await.unwrap().unwrap();
        assert!(
            pool.run(move |m| m.verify(Some(&phc), b"pw"))
                .await
                .unwrap()
        );

        let held = pool.permits().clone().acquire_many_owned(2).await.unwrap();
        // Waits PERMIT_WAIT (2 s) for real: tokio's paused clock is not compiled in.
        let busy = pool.run(|_| ()).await;
        assert_eq!(busy, Err(Busy));
        drop(held);
    }

    #[tokio::test]
    async fn an_idle_thread_gives_its_block_back_and_allocates_it_again_for_the_next_hash() {
        let pool = HashingPool::start(1, SMALL, Some(Duration::from_millis(50))).unwrap();
        let phc = pool.run(|m| m.hash(b"pw")).await.unwrap().unwrap();
        // Given back after 50 ms without a job (looked at every 100 ms, for up to 10 s on a
        // busy machine).
        let mut released = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if !pool.run(|m| m.is_resident()).await.unwrap() {
                released = true;
                break;
            }
        }
        assert!(released, "given back when idle");
        let verified = pool
            .run(move |m| (m.verify(Some(&phc), b"pw"), m.is_resident(), m.block_kib()))
            .await
            .unwrap();
        assert_eq!(verified, (true, true, 64), "allocated again, same size");
    }

    #[tokio::test]
    async fn without_an_idle_release_the_block_stays_resident() {
        let pool = HashingPool::start(1, SMALL, None).unwrap();
        pool.run(|m| m.hash(b"pw")).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(pool.run(|m| m.is_resident()).await.unwrap());
    }

    #[tokio::test]
    async fn forty_concurrent_jobs_on_two_threads_all_run_and_none_finds_its_thread_taken() {
        // A thread leased twice would refuse the second job (its channel holds one): Busy.
        let pool = Arc::new(HashingPool::start(2, SMALL, None).unwrap());
        let mut handles = Vec::new();
        for i in 0..40u32 {
            let pool = Arc::clone(&pool);
            handles.push(tokio::spawn(async move {
                pool.run(move |_| {
                    std::thread::sleep(Duration::from_millis(2));
                    i
                })
                .await
            }));
        }
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), Ok(i as u32));
        }
        assert_eq!(pool.permits().available_permits(), 2);
        assert_eq!(pool.idle.lock().unwrap().len(), 2, "both threads are back");
    }

    #[tokio::test]
    async fn a_thread_that_dies_is_retired_with_its_permit_and_the_pool_goes_on() {
        /// A panic payload whose drop panics too: it escapes `catch_unwind` and ends the thread.
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the payload's drop panics");
            }
        }
        let pool = HashingPool::start(2, SMALL, None).unwrap();
        let died = pool
            .run(|_| -> u8 { std::panic::resume_unwind(Box::new(Bomb)) })
            .await;
        assert_eq!(died, Err(Busy));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut answers = Vec::new();
        for i in 0..10u8 {
            answers.push(pool.run(move |_| i).await);
        }
        let busy = answers.iter().filter(|a| a.is_err()).count();
        assert!(
            busy <= 1,
            "only the job that found the dead thread: {answers:?}"
        );
        assert_eq!(answers.last(), Some(&Ok(9)));
        assert_eq!(
            pool.permits().available_permits(),
            1,
            "the dead thread's permit is retired"
        );
    }

    #[tokio::test]
    async fn a_panicking_job_answers_busy_and_the_thread_keeps_working() {
        let pool = HashingPool::start(1, SMALL, None).unwrap();
        let panicked = pool.run(|_| -> u8 { panic!("boom") }).await;
        assert_eq!(panicked, Err(Busy));
        assert_eq!(pool.run(|_| 7).await, Ok(7));
        assert_eq!(pool.permits().available_permits(), 1);
    }
}
