//! A userspace delay line between two network namespaces (this kernel has no netem): every IP
//! packet read from the TUN device in namespace A is written to the TUN device in namespace B
//! `delay` later, and the other way round, so a round trip (SYN/SYN-ACK included) takes
//! `2 × delay` more. Packets are kept in order; the write waits on a sleep, then a short spin,
//! so it lands within a few microseconds of its due time.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// `pgw-bench relay` options.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Network namespace A (as in `ip netns`).
    #[arg(long)]
    pub ns_a: String,
    /// Network namespace B.
    #[arg(long)]
    pub ns_b: String,
    /// TUN device name, the same in both namespaces (created with `ip tuntap add ... mode tun`).
    #[arg(long)]
    pub dev: String,
    /// One-way delay; the round trip gains twice this.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub delay: Duration,
}

fn enter_netns(name: &str) -> anyhow::Result<()> {
    let f =
        File::open(format!("/var/run/netns/{name}")).with_context(|| format!("netns {name}"))?;
    // SAFETY: a valid namespace fd; setns changes only this thread's namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {name}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Attach to the TUN device `dev` of the current namespace (raw IP packets, no header).
fn open_tun(dev: &str) -> anyhow::Result<File> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut ifr = [0u8; 40];
    if dev.len() >= 16 {
        bail!("device name too long: {dev}");
    }
    ifr[..dev.len()].copy_from_slice(dev.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: ifr is a zeroed struct ifreq of the size the kernel reads.
    if unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) } != 0 {
        bail!("TUNSETIFF {dev}: {}", std::io::Error::last_os_error());
    }
    Ok(f)
}

type Queue = Arc<(Mutex<VecDeque<(Instant, Vec<u8>)>>, Condvar)>;

/// Read packets from `from` and queue them, due `delay` after arrival.
fn reader(mut from: File, q: Queue, delay: Duration) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match from.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("relay read: {e}");
                return;
            }
        };
        let due = Instant::now() + delay;
        let (lock, cv) = &*q;
        lock.lock()
            .expect("poisoned")
            .push_back((due, buf[..n].to_vec()));
        cv.notify_one();
    }
}

/// Write queued packets to `to` at their due time.
fn writer(mut to: File, q: Queue) {
    const SPIN: Duration = Duration::from_micros(200);
    loop {
        let (due, pkt) = {
            let (lock, cv) = &*q;
            let mut g = lock.lock().expect("poisoned");
            while g.is_empty() {
                g = cv.wait(g).expect("poisoned");
            }
            g.pop_front().expect("not empty")
        };
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            let left = due - now;
            if left > SPIN {
                std::thread::sleep(left - SPIN);
            } else {
                std::hint::spin_loop();
            }
        }
        if let Err(e) = to.write_all(&pkt) {
            eprintln!("relay write: {e}");
        }
    }
}

pub fn run(a: RelayArgs) -> anyhow::Result<()> {
    // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack (1 ns).
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
    enter_netns(&a.ns_a)?;
    let tun_a = open_tun(&a.dev)?;
    enter_netns(&a.ns_b)?;
    let tun_b = open_tun(&a.dev)?;
    let ab: Queue = Arc::default();
    let ba: Queue = Arc::default();
    let mut threads = Vec::new();
    for (from, to, q) in [
        (tun_a.try_clone()?, tun_b.try_clone()?, ab),
        (tun_b, tun_a, ba),
    ] {
        let q2 = q.clone();
        let delay = a.delay;
        threads.push(std::thread::spawn(move || reader(from, q2, delay)));
        threads.push(std::thread::spawn(move || {
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
            writer(to, q)
        }));
    }
    println!("ready");
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
