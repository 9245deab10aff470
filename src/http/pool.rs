//! A pool of reused worker threads: one job (a connection) per thread at a time.
//!
//! Threads are spawned on demand up to a cap; an idle worker takes the next job; idle workers
//! beyond a small floor exit after a while, so a burst does not keep its threads forever.
//! A job that finds the pool full is handed back to the caller, which answers it (503).
//! When the last thread beyond the floor exits, the burst is over: the allocator's free
//! pages go back to the kernel.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

pub struct PoolConfig {
    /// Jobs running at once; also the most threads that ever exist.
    pub max_threads: usize,
    /// Idle threads kept however long they wait.
    pub floor: usize,
    /// How long an idle thread beyond the floor waits for a job before it exits.
    pub idle_exit: Duration,
    pub stack_size: usize,
    /// Thread name prefix; threads are `<name>-<n>` (Linux shows 15 bytes of it).
    pub name: &'static str,
}

pub struct Pool<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

type Handler<T> = Box<dyn Fn(T) + Send + Sync>;

struct Inner<T> {
    config: PoolConfig,
    handler: Handler<T>,
    state: Mutex<State<T>>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    /// Signalled when a job ends or a thread exits.
    changed: Condvar,
}

struct State<T> {
    /// Jobs handed to idle workers that have not picked them up yet.
    queue: VecDeque<T>,
    threads: usize,
    /// Waiting workers not yet promised a queued job (waiting = idle + queue.len()).
    idle: usize,
    busy: usize,
    closed: bool,
    spawned: u64,
}

impl<T: Send + 'static> Pool<T> {
    pub fn new(config: PoolConfig, handler: impl Fn(T) + Send + Sync + 'static) -> Pool<T> {
        Pool {
            inner: Arc::new(Inner {
                config,
                handler: Box::new(handler),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    busy: 0,
                    closed: false,
                    spawned: 0,
                }),
                work: Condvar::new(),
                changed: Condvar::new(),
            }),
        }
    }

    /// Runs `job` on an idle worker or a new one; hands it back when the pool is full, closed,
    /// or no thread could be spawned.
    pub fn submit(&self, job: T) -> Result<(), T> {
        let mut s = self.inner.lock();
        if s.closed || s.busy >= self.inner.config.max_threads {
            return Err(job);
        }
        s.busy += 1;
        if s.idle > 0 {
            s.idle -= 1;
            s.queue.push_back(job);
            self.inner.work.notify_one();
            return Ok(());
        }
        s.threads += 1;
        s.spawned += 1;
        let name = format!("{}-{}", self.inner.config.name, s.spawned);
        drop(s);
        // The job goes through a slot so a failed spawn can hand it back.
        let slot = Arc::new(Mutex::new(Some(job)));
        let inner = Arc::clone(&self.inner);
        let theirs = Arc::clone(&slot);
        let spawned = thread::Builder::new()
            .name(name)
            .stack_size(self.inner.config.stack_size)
            .spawn(move || {
                let first = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
                drop(theirs);
                if let Some(first) = first {
                    run_worker(&inner, first);
                }
            });
        match spawned {
            Ok(_) => Ok(()),
            Err(_) => {
                let mut s = self.inner.lock();
                s.threads -= 1;
                s.busy -= 1;
                self.inner.changed.notify_all();
                drop(s);
                let job = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                // The closure was dropped unrun, so the job is still in the slot.
                job.map_or(Ok(()), Err)
            }
        }
    }

    /// Refuses new jobs and lets idle workers exit; running jobs go on.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.work.notify_all();
    }

    /// Waits until no job runs and every thread has exited (only after `close`), or until
    /// `deadline`. True when finished.
    pub fn wait_finished(&self, deadline: Option<Instant>) -> bool {
        let mut s = self.inner.lock();
        while s.busy > 0 || s.threads > 0 {
            s = match deadline {
                None => self
                    .inner
                    .changed
                    .wait(s)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    let waited = self.inner.changed.wait_timeout(s, left);
                    waited.unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        true
    }
}

#[cfg(test)]
impl<T: Send + 'static> Pool<T> {
    /// Jobs running now.
    pub fn busy(&self) -> usize {
        self.inner.lock().busy
    }

    /// Threads alive now (busy or idle).
    pub fn threads(&self) -> usize {
        self.inner.lock().threads
    }
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Jobs run outside the lock, so a poisoned lock only means a panic between two
        // counter updates of ours, which cannot happen; keep going rather than cascade.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn run_worker<T>(inner: &Inner<T>, first: T) {
    let mut job = first;
    loop {
        // A panic in a job must not cost the thread or the counters.
        let _ = catch_unwind(AssertUnwindSafe(|| (inner.handler)(job)));
        let mut s = inner.lock();
        s.busy -= 1;
        s.idle += 1;
        inner.changed.notify_all();
        let mut idle_since = Instant::now();
        job = loop {
            if let Some(next) = s.queue.pop_front() {
                break next; // the submitter already took it off `idle`
            }
            let expired = idle_since.elapsed() >= inner.config.idle_exit;
            if s.closed || (expired && s.threads > inner.config.floor) {
                s.idle -= 1;
                s.threads -= 1;
                inner.changed.notify_all();
                let burst_over = !s.closed && s.threads == inner.config.floor;
                drop(s);
                if burst_over {
                    // What the burst's connections allocated and freed stays resident in the
                    // allocator otherwise. After a pause: the threads that left just before
                    // this one may still be freeing their last allocations.
                    thread::sleep(Duration::from_millis(200));
                    crate::sys::release_free_memory();
                }
                return;
            }
            if expired {
                idle_since = Instant::now(); // part of the floor: wait another round
            }
            let left = inner.config.idle_exit.saturating_sub(idle_since.elapsed());
            let wait = left.max(Duration::from_millis(1));
            s = inner
                .work
                .wait_timeout(s, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn config(max: usize, floor: usize, idle_exit_ms: u64) -> PoolConfig {
        PoolConfig {
            max_threads: max,
            floor,
            idle_exit: Duration::from_millis(idle_exit_ms),
            stack_size: 256 * 1024,
            name: "t2g-test",
        }
    }

    /// Polls `cond` for up to two seconds.
    fn eventually(cond: impl Fn() -> bool) -> bool {
        for _ in 0..200 {
            if cond() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        cond()
    }

    #[test]
    fn spawns_on_demand_and_reuses_idle_threads() {
        let (tx, rx) = mpsc::channel::<String>();
        let tx = Mutex::new(tx);
        let pool = Pool::new(config(4, 4, 10_000), move |n: u32| {
            let name = thread::current().name().unwrap_or("").to_string();
            tx.lock().unwrap().send(format!("{n} {name}")).unwrap();
        });
        let mut names = Vec::new();
        for n in 0..5 {
            assert!(pool.submit(n).is_ok());
            names.push(rx.recv_timeout(Duration::from_secs(2)).unwrap());
            assert!(eventually(|| pool.busy() == 0));
        }
        assert_eq!(pool.threads(), 1, "one job at a time needs one thread");
        assert!(
            names.iter().all(|l| l.ends_with(" t2g-test-1")),
            "{names:?}"
        );
    }

    #[test]
    fn refuses_past_the_cap_and_hands_the_job_back() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::new(config(2, 0, 10_000), move |_: u32| {
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(5));
        });
        assert!(pool.submit(1).is_ok());
        assert!(pool.submit(2).is_ok());
        assert_eq!(pool.submit(3), Err(3));
        assert_eq!(pool.busy(), 2);
        release_tx.send(()).unwrap();
        assert!(eventually(|| pool.busy() == 1));
        assert!(pool.submit(4).is_ok(), "a freed slot takes the next job");
        assert_eq!(
            pool.threads(),
            2,
            "the idle worker took it, no third thread"
        );
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        assert!(eventually(|| pool.busy() == 0));
    }

    #[test]
    fn idle_threads_beyond_the_floor_exit() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::new(config(8, 1, 50), move |_: u32| {
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(5));
        });
        for n in 0..3 {
            assert!(pool.submit(n).is_ok());
        }
        assert_eq!(pool.threads(), 3);
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        assert!(eventually(|| pool.threads() == 1), "shrinks to the floor");
        thread::sleep(Duration::from_millis(150));
        assert_eq!(pool.threads(), 1, "the floor stays");
    }

    #[test]
    fn a_panicking_job_keeps_its_thread() {
        let pool = Pool::new(config(1, 1, 10_000), |n: u32| {
            if n == 0 {
                panic!("job panics on purpose");
            }
        });
        assert!(pool.submit(0).is_ok());
        assert!(eventually(|| pool.busy() == 0));
        assert_eq!(pool.threads(), 1);
        assert!(pool.submit(1).is_ok());
        assert!(eventually(|| pool.busy() == 0));
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn close_lets_running_jobs_finish_then_all_threads_exit() {
        let pool = Pool::new(config(4, 4, 10_000), |ms: u64| {
            thread::sleep(Duration::from_millis(ms));
        });
        assert!(pool.submit(200).is_ok());
        assert!(pool.submit(0).is_ok());
        assert!(eventually(|| pool.busy() == 1));
        pool.close();
        assert_eq!(pool.submit(0), Err(0), "closed pools take no job");
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(
            !pool.wait_finished(Some(soon)),
            "the long job is still running"
        );
        assert!(pool.wait_finished(Some(Instant::now() + Duration::from_secs(2))));
        assert_eq!(pool.threads(), 0);
    }
}
