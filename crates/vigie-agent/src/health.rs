//! What the box knows of its own health, read from Linux: battery and mains
//! from `/sys/class/power_supply`, free storage from `df`, uptime.

use std::path::Path;

/// Battery charge and whether mains power is present. A box with no
/// battery reports `None` and mains.
pub fn power(sysfs: &Path) -> (Option<u8>, bool) {
    let mut battery = None;
    let mut mains = None;
    let Ok(entries) = std::fs::read_dir(sysfs) else {
        return (None, true);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map(|s| s.trim().to_string())
                .ok()
        };
        match read("type").as_deref() {
            Some("Battery") => {
                battery = read("capacity")
                    .and_then(|c| c.parse::<u8>().ok())
                    .map(|c| c.min(100))
            }
            Some("Mains") | Some("USB") => {
                let online = read("online").as_deref() == Some("1");
                mains = Some(mains.unwrap_or(false) || online);
            }
            _ => {}
        }
    }
    (battery, mains.unwrap_or(true))
}

/// Free space where the outbox lives, in MiB (0 if it cannot be read).
pub fn free_storage_mb(dir: &Path) -> u32 {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output();
    let Ok(out) = out else { return 0 };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| (kb / 1024).min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_power_supply_like_sysfs() {
        let d = std::env::temp_dir().join(format!("vigie-power-{}", uuid::Uuid::now_v7().simple()));
        for (name, kind, files) in [
            ("BAT0", "Battery", vec![("capacity", "17")]),
            ("AC", "Mains", vec![("online", "0")]),
        ] {
            let p = d.join(name);
            std::fs::create_dir_all(&p).expect("dir");
            std::fs::write(p.join("type"), kind).expect("type");
            for (f, v) in files {
                std::fs::write(p.join(f), v).expect("value");
            }
        }
        assert_eq!(power(&d), (Some(17), false));
        assert_eq!(power(Path::new("/nonexistent")), (None, true));
        assert!(free_storage_mb(&std::env::temp_dir()) > 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
