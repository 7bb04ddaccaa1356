//! Spreading many small, independent file-system calls (a `stat` or a link
//! per file of a directory) over a few threads.
//!
//! Such calls spend their time in the kernel, which serialises changes
//! within one folder but not across folders, and runs lookups side by side.
//! A directory's file list is sorted by path, so contiguous chunks of it
//! mostly touch different folders.

/// At most this many threads (the caller's included).
const MAX_THREADS: usize = 4;

/// Fewer items than this per thread are not worth a thread (starting one
/// costs about as much as a few dozen `stat`s).
const MIN_PER_THREAD: usize = 256;

/// `f` applied to contiguous chunks of `items` that together cover it, in
/// order, on up to [`MAX_THREADS`] threads. With few items, one core, or a
/// thread that cannot be started, the work runs on the calling thread.
///
/// A panic in `f` is propagated, as if `f` had been called directly.
pub(crate) fn map_chunks<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let worth = items.len() / MIN_PER_THREAD;
    if worth < 2 {
        return vec![f(items)];
    }
    let threads = cores().min(MAX_THREADS).min(worth);
    if threads < 2 {
        return vec![f(items)];
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut chunks = items.chunks(per);
        let first = chunks.next().unwrap_or_default();
        let spawned: Vec<_> = chunks
            .map(|chunk| {
                let handle = std::thread::Builder::new().spawn_scoped(s, move || f(chunk));
                (chunk, handle)
            })
            .collect();
        let mut results = Vec::with_capacity(threads);
        results.push(f(first));
        for (chunk, handle) in spawned {
            results.push(match handle {
                Ok(handle) => match handle.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(_) => f(chunk),
            });
        }
        results
    })
}

/// The cores this process may use, asked once (on Linux the answer reads
/// cgroup files).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_item_once_in_order() {
        for n in [0, 1, 255, 256, 511, 512, 1000, 4097] {
            let items: Vec<usize> = (0..n).collect();
            let chunks = map_chunks(&items, <[usize]>::to_vec);
            assert!(chunks.len() <= MAX_THREADS);
            assert_eq!(chunks.concat(), items, "{n} items");
        }
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn propagates_a_panic() {
        let items: Vec<usize> = (0..4096).collect();
        map_chunks(&items, |chunk| {
            if chunk.contains(&4095) {
                panic!("boom");
            }
        });
    }
}
