//! Work spread over the machine's cores: how many threads work side by side (the
//! machine's count, or `FUNNEL_THREADS`), and one scoped-thread helper that hands
//! items out in turn. Polars has its own pool; this is for the work funnel splits
//! itself (columns to encode, pieces to type, partitions to finish, metrics of a
//! report).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many threads work side by side: `FUNNEL_THREADS` when set to a positive
/// number, otherwise what the system says this process may use.
pub fn workers() -> usize {
    // Asked once: the system's answer reads cgroup files, and this is called per
    // batch and per row group.
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| {
        std::env::var("FUNNEL_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// `f(i)` for every `i` in `0..n`, on up to [`workers`] threads (the caller's among
/// them), the items taken in order as threads come free; the results in item order.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    map_alongside(n, f, || ()).0
}

/// [`map`], while the calling thread first runs `alongside` (reading the next batch,
/// say) and then joins in; also returns what `alongside` returned.
pub fn map_alongside<T: Send, R>(
    n: usize,
    f: impl Fn(usize) -> T + Sync,
    alongside: impl FnOnce() -> R,
) -> (Vec<T>, R) {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let out = f(i);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    let helpers = workers().saturating_sub(1).min(n);
    let other = std::thread::scope(|scope| {
        for _ in 0..helpers {
            spawn(scope, work);
        }
        let other = alongside();
        work();
        other
    });
    let results = slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item is taken by a thread that finished")
        })
        .collect();
    (results, other)
}

/// A worker's stack: as the main thread's and more. polars plans recurse as deep
/// as the plan is (a metric at an earlier as-of cuts the tables, a backtest cuts
/// them again), and the default 2 MiB of a spawned thread overflowed in debug builds.
const STACK_BYTES: usize = 64 << 20;

fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn_scoped(scope, f)
        .expect("a worker thread starts")
}

/// `a` and `b` side by side (`b` on a thread of its own); both results.
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|scope| {
        let b = spawn(scope, b);
        let a = a();
        (a, b.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_in_order_whatever_the_threads() {
        let out = map(1000, |i| i * 2);
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert!(map(0, |i| i).is_empty());
        let (out, side) = map_alongside(5, |i| i + 1, || "read");
        assert_eq!((out, side), (vec![1, 2, 3, 4, 5], "read"));
        assert_eq!(join(|| 1, || 2), (1, 2));
        assert!(workers() >= 1);
    }
}
