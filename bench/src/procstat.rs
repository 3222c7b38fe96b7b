//! A process's CPU time and memory from /proc, the way `top` and blackbox comparisons read them.

use anyhow::Context;

/// CPU and memory of one process at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    /// utime + stime, all threads (dead ones included), in seconds.
    pub cpu_seconds: f64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM (peak RSS), KiB.
    pub peak_rss_kib: u64,
    /// RssAnon: the private part of RSS (heap, stacks), KiB; the rest is mostly program text.
    pub anon_rss_kib: u64,
}

impl ProcStat {
    pub fn read(pid: u32) -> anyhow::Result<ProcStat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("process {pid}"))?;
        // Fields after the `(comm)`, which may itself hold spaces.
        let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
        let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(ProcStat {
            cpu_seconds: ticks as f64 / hz,
            rss_kib: kib("VmRSS:"),
            peak_rss_kib: kib("VmHWM:"),
            anon_rss_kib: kib("RssAnon:"),
        })
    }
}

/// `pgw-bench stat PID`: print the process's CPU seconds, RSS and peak RSS as JSON.
pub fn print(pid: u32) -> anyhow::Result<()> {
    let s = ProcStat::read(pid)?;
    println!(
        "{}",
        serde_json::json!({"cpu_seconds": s.cpu_seconds, "rss_kib": s.rss_kib,
            "peak_rss_kib": s.peak_rss_kib, "anon_rss_kib": s.anon_rss_kib})
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_counts_its_cpu() {
        let before = ProcStat::read(std::process::id()).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = ProcStat::read(std::process::id()).unwrap();
        assert!(after.cpu_seconds > before.cpu_seconds);
        assert!(after.rss_kib > 0 && after.peak_rss_kib >= after.rss_kib);
        assert!(after.anon_rss_kib > 0 && after.anon_rss_kib <= after.rss_kib);
    }
}
