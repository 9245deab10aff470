//! A pool of reused worker threads taking jobs (connections with bytes waiting) from one
//! first-in-first-out queue.
//!
//! Threads are spawned on demand up to a soft cap sized for the machine: beyond it, more
//! threads only contend for the same cores, so jobs queue instead. A job can still block (a
//! client that sends its head byte by byte, or does not read its response), so when the oldest
//! queued job has waited too long while no job finished, `rescue` spawns threads beyond the
//! soft cap, up to a hard cap, and slow clients cannot starve the others. A pool that is only
//! busy (jobs keep finishing) gets no more threads until a job has waited much longer. Idle
//! workers beyond a small floor exit after a while; when the last of them exits, the burst is
//! over and the allocator's free pages go back to the kernel.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

pub(super) struct PoolConfig {
    /// Threads spawned on demand; past it, jobs wait in the queue.
    pub soft_threads: usize,
    /// Threads `rescue` may add while queued jobs wait too long; the most that ever exist.
    pub max_threads: usize,
    /// Idle threads kept however long they wait.
    pub floor: usize,
    /// How long an idle thread beyond the floor waits for a job before it exits.
    pub idle_exit: Duration,
    pub stack_size: usize,
    /// Thread name prefix; threads are `<name>-<n>` (Linux shows 15 bytes of it).
    pub name: &'static str,
}

pub(super) struct Pool<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

/// What a running job may ask about its pool: whether other jobs wait for a thread.
pub(super) struct Backlog<'a>(&'a AtomicUsize);

impl Backlog<'_> {
    pub(super) fn is_empty(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

type Handler<T> = Box<dyn Fn(T, Backlog<'_>) + Send + Sync>;

struct Inner<T> {
    config: PoolConfig,
    handler: Handler<T>,
    state: Mutex<State<T>>,
    /// The queue's length, readable without the lock (by `Backlog`).
    queued: AtomicUsize,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    /// Signalled when the last running job ends or a thread exits.
    changed: Condvar,
}

struct State<T> {
    /// Jobs and when they were queued.
    queue: VecDeque<(T, Instant)>,
    threads: usize,
    /// Workers waiting for a job. Those beyond the queue's length are free for a new job;
    /// the others were woken for a queued one and have not taken it yet.
    waiting: usize,
    busy: usize,
    closed: bool,
    spawned: u64,
    /// Jobs finished, and that count at the last `rescue`.
    finished: u64,
    finished_at_rescue: u64,
}

impl<T: Send + 'static> Pool<T> {
    pub(super) fn new(
        config: PoolConfig,
        handler: impl Fn(T, Backlog<'_>) + Send + Sync + 'static,
    ) -> Pool<T> {
        Pool {
            inner: Arc::new(Inner {
                config,
                handler: Box::new(handler),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    waiting: 0,
                    busy: 0,
                    closed: false,
                    spawned: 0,
                    finished: 0,
                    finished_at_rescue: 0,
                }),
                queued: AtomicUsize::new(0),
                work: Condvar::new(),
                changed: Condvar::new(),
            }),
        }
    }

    /// Queues all of `jobs` (draining it) for free workers, waking one per job while some
    /// wait and spawning one per remaining job while under the soft cap; when the pool is
    /// closed they are dropped (connections: closed). A thread that cannot be spawned now is
    /// left to `rescue`.
    pub(super) fn submit(&self, jobs: &mut Vec<T>) {
        let inner = &self.inner;
        let mut s = inner.lock();
        if s.closed {
            drop(s);
            jobs.clear();
            return;
        }
        let free = s.waiting.saturating_sub(s.queue.len());
        let now = Instant::now();
        let count = jobs.len();
        s.queue.extend(jobs.drain(..).map(|job| (job, now)));
        inner.queued.store(s.queue.len(), Ordering::Relaxed);
        let soft = inner.config.soft_threads.min(inner.config.max_threads);
        let unserved = count.saturating_sub(free);
        let room = soft.saturating_sub(s.threads);
        drop(s);
        // After the unlock, so the woken do not wait for the lock at once.
        for _ in 0..free.min(count) {
            inner.work.notify_one();
        }
        spawn(inner, unserved.min(room));
    }

    /// Spawns a thread for each queued job no worker is free for, up to the hard cap, when the
    /// oldest queued job has waited `patience` and no job finished since the last call (the
    /// running jobs are blocked by slow clients, not busy), or has waited `limit` whatever
    /// the reason. Called periodically; returns how many threads it started.
    pub(super) fn rescue(&self, patience: Duration, limit: Duration) -> usize {
        let inner = &self.inner;
        let mut s = inner.lock();
        let stalled = s.finished == s.finished_at_rescue;
        s.finished_at_rescue = s.finished;
        let waited = match s.queue.front() {
            Some((_, queued)) if !s.closed => queued.elapsed(),
            _ => return 0,
        };
        if !(waited >= limit || (waited >= patience && stalled)) {
            return 0;
        }
        let unserved = s.queue.len().saturating_sub(s.waiting);
        let room = inner.config.max_threads.saturating_sub(s.threads);
        drop(s);
        spawn(inner, unserved.min(room))
    }

    /// Refuses new jobs and lets idle workers exit once the queue is empty; queued and running
    /// jobs go on.
    pub(super) fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.work.notify_all();
    }

    /// Waits until no job runs and every thread has exited (only after `close`), or until
    /// `deadline`. True when finished.
    pub(super) fn wait_finished(&self, deadline: Option<Instant>) -> bool {
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
    pub(super) fn busy(&self) -> usize {
        self.inner.lock().busy
    }

    /// Threads alive now (busy or idle).
    pub(super) fn threads(&self) -> usize {
        self.inner.lock().threads
    }

    /// Jobs waiting for a worker.
    pub(super) fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Jobs run outside the lock, so a poisoned lock only means a panic between two
        // counter updates of ours, which cannot happen; keep going rather than cascade.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts up to `n` workers; returns how many started.
fn spawn<T: Send + 'static>(inner: &Arc<Inner<T>>, n: usize) -> usize {
    let mut started = 0;
    for _ in 0..n {
        let name = {
            let mut s = inner.lock();
            if s.threads >= inner.config.max_threads {
                break;
            }
            s.threads += 1;
            s.spawned += 1;
            format!("{}-{}", inner.config.name, s.spawned)
        };
        let theirs = Arc::clone(inner);
        let spawned = thread::Builder::new()
            .name(name)
            .stack_size(inner.config.stack_size)
            .spawn(move || run_worker(&theirs));
        if spawned.is_err() {
            let mut s = inner.lock();
            s.threads -= 1;
            inner.changed.notify_all();
            break;
        }
        started += 1;
    }
    started
}

fn run_worker<T>(inner: &Inner<T>) {
    let mut s = inner.lock();
    let mut idle_since = Instant::now();
    loop {
        if let Some((job, _)) = s.queue.pop_front() {
            inner.queued.store(s.queue.len(), Ordering::Relaxed);
            s.busy += 1;
            drop(s);
            // A panic in a job must not cost the thread or the counters.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                (inner.handler)(job, Backlog(&inner.queued))
            }));
            s = inner.lock();
            s.busy -= 1;
            s.finished += 1;
            if s.busy == 0 {
                // Only `wait_finished` listens, for this; a wake-up per job is a system call
                // per request.
                inner.changed.notify_all();
            }
            idle_since = Instant::now();
            continue;
        }
        let expired = idle_since.elapsed() >= inner.config.idle_exit;
        if s.closed || (expired && s.threads > inner.config.floor) {
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
        s.waiting += 1;
        s = inner
            .work
            .wait_timeout(s, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        s.waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::eventually;
    use std::sync::mpsc;

    fn config(soft: usize, max: usize, floor: usize, idle_exit_ms: u64) -> PoolConfig {
        PoolConfig {
            soft_threads: soft,
            max_threads: max,
            floor,
            idle_exit: Duration::from_millis(idle_exit_ms),
            stack_size: 256 * 1024,
            name: "t2g-test",
        }
    }

    /// How long a test waits for the threads to get there.
    const SOON: Duration = Duration::from_secs(2);

    /// A pool whose jobs each wait for one message on the returned sender (5 s at most).
    fn blocking_pool(config: PoolConfig) -> (Pool<u32>, mpsc::Sender<()>) {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::new(config, move |_: u32, _: Backlog<'_>| {
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(5));
        });
        (pool, release_tx)
    }

    #[test]
    fn spawns_on_demand_and_reuses_idle_threads() {
        let (tx, rx) = mpsc::channel::<String>();
        let tx = Mutex::new(tx);
        let pool = Pool::new(config(4, 4, 4, 10_000), move |n: u32, _: Backlog<'_>| {
            let name = thread::current().name().unwrap_or("").to_string();
            tx.lock().unwrap().send(format!("{n} {name}")).unwrap();
        });
        let mut names = Vec::new();
        for n in 0..5 {
            pool.submit(&mut vec![n]);
            names.push(rx.recv_timeout(Duration::from_secs(2)).unwrap());
            assert!(eventually(SOON, || pool.busy() == 0));
        }
        assert_eq!(pool.threads(), 1, "one job at a time needs one thread");
        assert!(
            names.iter().all(|l| l.ends_with(" t2g-test-1")),
            "{names:?}"
        );
    }

    #[test]
    fn jobs_queue_past_the_soft_cap_and_a_freed_worker_takes_them_in_order() {
        let (tx, rx) = mpsc::channel::<u32>();
        let tx = Mutex::new(tx);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::new(config(1, 4, 0, 10_000), move |n: u32, _: Backlog<'_>| {
            tx.lock().unwrap().send(n).unwrap();
            if n == 0 {
                let _ = release_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(5));
            }
        });
        pool.submit(&mut vec![0]);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), 0);
        for n in 1..4 {
            pool.submit(&mut vec![n]);
        }
        assert_eq!((pool.threads(), pool.queued()), (1, 3));
        release_tx.send(()).unwrap();
        let order: Vec<u32> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(2)).unwrap())
            .collect();
        assert_eq!(order, [1, 2, 3], "first in, first out");
        assert_eq!(pool.threads(), 1, "no thread beyond the soft cap");
    }

    #[test]
    fn rescue_adds_threads_for_overdue_jobs_up_to_the_hard_cap() {
        let (pool, release_tx) = blocking_pool(config(2, 4, 0, 10_000));
        for n in 0..5 {
            pool.submit(&mut vec![n]);
        }
        assert!(eventually(SOON, || pool.busy() == 2));
        assert_eq!(pool.queued(), 3);
        let long = Duration::from_secs(60);
        assert_eq!(pool.rescue(long, long), 0, "not overdue yet");
        thread::sleep(Duration::from_millis(30));
        let short = Duration::from_millis(20);
        assert_eq!(pool.rescue(short, long), 2, "up to the hard cap");
        assert!(eventually(SOON, || pool.busy() == 4));
        assert_eq!((pool.threads(), pool.queued()), (4, 1));
        assert_eq!(
            pool.rescue(Duration::ZERO, Duration::ZERO),
            0,
            "at the hard cap"
        );
        for _ in 0..5 {
            release_tx.send(()).unwrap();
        }
        assert!(eventually(SOON, || pool.busy() == 0 && pool.queued() == 0));
    }

    #[test]
    fn a_pool_whose_jobs_keep_finishing_is_rescued_only_past_the_limit() {
        let (pool, release_tx) = blocking_pool(config(1, 4, 0, 10_000));
        pool.submit(&mut vec![0]);
        release_tx.send(()).unwrap();
        assert!(eventually(SOON, || pool.busy() == 0), "one job finished");
        for n in 1..4 {
            pool.submit(&mut vec![n]);
        }
        assert!(eventually(SOON, || pool.busy() == 1));
        let long = Duration::from_secs(60);
        assert_eq!(
            pool.rescue(Duration::ZERO, long),
            0,
            "a job finished since the last look: busy, not blocked"
        );
        assert_eq!(pool.rescue(long, Duration::ZERO), 2, "past the limit");
        assert!(eventually(SOON, || pool.busy() == 3));
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        assert!(eventually(SOON, || pool.busy() == 0 && pool.queued() == 0));
    }

    #[test]
    fn a_batch_wakes_or_spawns_a_worker_per_job_up_to_the_soft_cap() {
        let (pool, release_tx) = blocking_pool(config(4, 8, 0, 10_000));
        let mut jobs: Vec<u32> = (0..6).collect();
        pool.submit(&mut jobs);
        assert!(jobs.is_empty());
        assert!(eventually(SOON, || pool.busy() == 4));
        assert_eq!((pool.threads(), pool.queued()), (4, 2));
        for _ in 0..6 {
            release_tx.send(()).unwrap();
        }
        assert!(eventually(SOON, || pool.busy() == 0 && pool.queued() == 0));
        let mut jobs: Vec<u32> = (0..3).collect();
        pool.submit(&mut jobs);
        assert!(eventually(SOON, || pool.busy() == 3), "idle workers woken");
        assert_eq!(pool.threads(), 4, "no new thread for them");
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        assert!(eventually(SOON, || pool.busy() == 0));
        pool.close();
        let mut late = vec![9];
        pool.submit(&mut late);
        assert!(late.is_empty(), "dropped by a closed pool");
        assert_eq!(pool.queued(), 0);
    }

    #[test]
    fn a_job_sees_whether_others_wait() {
        let (tx, rx) = mpsc::channel::<bool>();
        let tx = Mutex::new(tx);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::new(
            config(1, 1, 0, 10_000),
            move |n: u32, backlog: Backlog<'_>| {
                if n == 0 {
                    let _ = release_rx
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(5));
                }
                tx.lock().unwrap().send(backlog.is_empty()).unwrap();
            },
        );
        pool.submit(&mut vec![0]);
        assert!(eventually(SOON, || pool.busy() == 1));
        pool.submit(&mut vec![1]);
        release_tx.send(()).unwrap();
        let seen: Vec<bool> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(2)).unwrap())
            .collect();
        assert_eq!(
            seen,
            [false, true],
            "job 0 saw job 1 waiting; job 1 saw none"
        );
    }

    #[test]
    fn idle_threads_beyond_the_floor_exit() {
        let (pool, release_tx) = blocking_pool(config(8, 8, 1, 50));
        for n in 0..3 {
            pool.submit(&mut vec![n]);
        }
        assert_eq!(pool.threads(), 3);
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        assert!(
            eventually(SOON, || pool.threads() == 1),
            "shrinks to the floor"
        );
        thread::sleep(Duration::from_millis(150));
        assert_eq!(pool.threads(), 1, "the floor stays");
    }

    #[test]
    fn a_panicking_job_keeps_its_thread() {
        let pool = Pool::new(config(1, 1, 1, 10_000), |n: u32, _: Backlog<'_>| {
            if n == 0 {
                panic!("job panics on purpose");
            }
        });
        pool.submit(&mut vec![0]);
        assert!(eventually(SOON, || pool.busy() == 0));
        assert_eq!(pool.threads(), 1);
        pool.submit(&mut vec![1]);
        assert!(eventually(SOON, || pool.busy() == 0));
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn close_lets_running_and_queued_jobs_finish_then_all_threads_exit() {
        let pool = Pool::new(config(1, 1, 1, 10_000), |ms: u64, _: Backlog<'_>| {
            thread::sleep(Duration::from_millis(ms));
        });
        pool.submit(&mut vec![200]);
        pool.submit(&mut vec![0]);
        assert!(eventually(SOON, || pool.busy() == 1));
        assert_eq!(pool.queued(), 1);
        pool.close();
        let mut late = vec![0];
        pool.submit(&mut late);
        assert_eq!(
            (late.len(), pool.queued()),
            (0, 1),
            "closed pools drop new jobs"
        );
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(
            !pool.wait_finished(Some(soon)),
            "the long job is still running"
        );
        assert!(pool.wait_finished(Some(Instant::now() + Duration::from_secs(2))));
        assert_eq!((pool.threads(), pool.queued()), (0, 0));
    }
}
