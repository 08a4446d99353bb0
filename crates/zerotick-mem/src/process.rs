//! Memory figures of this process, for reports and footprint checks.

/// Memory figures of this process from `/proc/self/status` (Linux), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStatus {
    /// `VmSize`: virtual address space reserved.
    pub vm_size_bytes: Option<u64>,
    /// `VmRSS`: resident memory now.
    pub vm_rss_bytes: Option<u64>,
    /// `VmHWM`: the highest resident memory so far.
    pub vm_hwm_bytes: Option<u64>,
}

impl MemoryStatus {
    /// Reads `/proc/self/status`; every field `None` where it does not exist. Allocates (it
    /// reads a file): call it outside hot paths.
    pub fn read() -> Self {
        let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
            return Self::default();
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kb| kb * 1024)
        };
        Self {
            vm_size_bytes: field("VmSize:"),
            vm_rss_bytes: field("VmRSS:"),
            vm_hwm_bytes: field("VmHWM:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_on_linux() {
        let m = MemoryStatus::read();
        if cfg!(target_os = "linux") {
            assert!(m.vm_rss_bytes.is_some_and(|r| r > 0));
            assert!(m.vm_hwm_bytes >= m.vm_rss_bytes);
        }
    }
}
