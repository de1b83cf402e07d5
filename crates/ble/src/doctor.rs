//! `greenlight ble doctor`: what stands between this machine and Bluetooth
//! LE, found by asking D-Bus and BlueZ step by step, and said in words.
//!
//! The report is plain data with a human-readable [`fmt::Display`]; the
//! `bluez` feature's `doctor()` fills it in. The same [`Missing`] values are
//! what the BlueZ radio returns when it cannot start, so the error a
//! resident sees and the doctor's verdict always agree.

use core::fmt;

/// Where libdbus looks for the system bus when `DBUS_SYSTEM_BUS_ADDRESS`
/// is not set (the D-Bus specification's default).
pub const DEFAULT_SYSTEM_BUS_ADDRESS: &str = "unix:path=/var/run/dbus/system_bus_socket";

/// The system bus address BlueZ clients will use: `DBUS_SYSTEM_BUS_ADDRESS`
/// if set, else [`DEFAULT_SYSTEM_BUS_ADDRESS`].
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_SYSTEM_BUS_ADDRESS.to_owned())
}

/// The Bluetooth controllers the Linux kernel exposes under
/// `/sys/class/bluetooth`, or `None` if that directory does not exist (no
/// Bluetooth support in the running kernel, or not Linux).
pub fn kernel_controllers() -> Option<Vec<String>> {
    let entries = std::fs::read_dir("/sys/class/bluetooth").ok()?;
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    Some(names)
}

/// The first thing missing for Bluetooth LE to work, with what to do about
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// This build has no Bluetooth backend (built without `bluez`).
    Backend,
    /// The D-Bus system bus did not answer.
    SystemBus {
        /// Where it was looked for.
        address: String,
        /// What connecting said.
        reason: String,
    },
    /// Nothing owns `org.bluez` on the system bus: bluetoothd is not running.
    Bluez {
        /// The bus that was asked.
        address: String,
    },
    /// BlueZ runs but has no adapter.
    Adapter {
        /// The controllers the kernel exposes, if it has Bluetooth support.
        kernel_controllers: Option<Vec<String>>,
    },
    /// The adapter asked for does not exist.
    NamedAdapter {
        /// The name asked for.
        name: String,
        /// The adapters BlueZ has.
        available: Vec<String>,
    },
    /// The adapter is powered off.
    Power {
        /// The adapter.
        adapter: String,
    },
    /// BlueZ offers no LE advertising manager on the adapter.
    AdvertisingManager {
        /// The adapter.
        adapter: String,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Backend => {
                write!(f, "this build has no Bluetooth backend (it was built without the `bluez` feature)")
            }
            Missing::SystemBus { address, reason } => write!(
                f,
                "cannot reach the D-Bus system bus at {address} ({reason}); is the system bus running? \
                 (Debian: apt-get install dbus)"
            ),
            Missing::Bluez { address } => write!(
                f,
                "BlueZ is not running: nothing owns org.bluez on the system bus at {address}; \
                 install and start it (Debian: apt-get install bluez; systemctl start bluetooth)"
            ),
            Missing::Adapter { kernel_controllers } => {
                write!(f, "BlueZ has no Bluetooth adapter")?;
                match kernel_controllers {
                    None => write!(
                        f,
                        "; the kernel has no Bluetooth support loaded (/sys/class/bluetooth does not exist: \
                         no Bluetooth hardware, or a kernel or container without Bluetooth)"
                    ),
                    Some(c) if c.is_empty() => write!(f, "; the kernel sees no Bluetooth controller"),
                    Some(c) => write!(f, "; the kernel sees {}, so check bluetoothd's log", c.join(", ")),
                }
            }
            Missing::NamedAdapter { name, available } if available.is_empty() => {
                write!(f, "there is no Bluetooth adapter {name} (BlueZ has none)")
            }
            Missing::NamedAdapter { name, available } => {
                write!(f, "there is no Bluetooth adapter {name} (BlueZ has {})", available.join(", "))
            }
            Missing::Power { adapter } => write!(
                f,
                "Bluetooth adapter {adapter} is powered off; turn it on (bluetoothctl power on) and check \
                 that it is not blocked (rfkill list)"
            ),
            Missing::AdvertisingManager { adapter } => write!(
                f,
                "Bluetooth adapter {adapter} cannot advertise: BlueZ offers no LE advertising manager \
                 (org.bluez.LEAdvertisingManager1) for it, so the adapter or the BlueZ version lacks LE \
                 advertising"
            ),
        }
    }
}

/// Advertising capacity of an adapter, from BlueZ's LE advertising manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertisingSlots {
    /// Advertisements registered now, by anyone.
    pub active: u8,
    /// How many more can be registered.
    pub available: u8,
}

/// One Bluetooth adapter as BlueZ describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterReport {
    /// BlueZ's name for it: `hci0`.
    pub name: String,
    /// Its address, if BlueZ gave one.
    pub address: Option<String>,
    /// Whether it is powered on.
    pub powered: bool,
    /// Whether someone is scanning with it right now.
    pub discovering: bool,
    /// Its LE advertising manager, if BlueZ offers one.
    pub advertising: Option<AdvertisingSlots>,
}

/// Everything `greenlight ble doctor` found, in the order it looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorReport {
    /// The system bus address that was tried.
    pub bus_address: String,
    /// `Err` with the reason if the bus did not answer.
    pub bus: Result<(), String>,
    /// Whether something owns `org.bluez` (false if the bus did not answer).
    pub bluez_running: bool,
    /// The adapters BlueZ has, sorted by name.
    pub adapters: Vec<AdapterReport>,
    /// What the kernel exposes under `/sys/class/bluetooth` (see
    /// [`kernel_controllers`]).
    pub kernel_controllers: Option<Vec<String>>,
}

impl DoctorReport {
    /// The adapter a radio would use: the one named, or else `hci0` if it
    /// exists, or else the first by name (as BlueZ clients choose).
    pub fn adapter(&self, name: Option<&str>) -> Result<&AdapterReport, Missing> {
        if let Err(reason) = &self.bus {
            return Err(Missing::SystemBus { address: self.bus_address.clone(), reason: reason.clone() });
        }
        if !self.bluez_running {
            return Err(Missing::Bluez { address: self.bus_address.clone() });
        }
        let found = match name {
            Some(name) => self.adapters.iter().find(|a| a.name == name),
            None => self.adapters.iter().find(|a| a.name == "hci0").or_else(|| self.adapters.first()),
        };
        match (found, name) {
            (Some(adapter), _) => Ok(adapter),
            (None, None) => Err(Missing::Adapter { kernel_controllers: self.kernel_controllers.clone() }),
            (None, Some(name)) => Err(Missing::NamedAdapter {
                name: name.to_owned(),
                available: self.adapters.iter().map(|a| a.name.clone()).collect(),
            }),
        }
    }

    /// What prevents scanning on the adapter, if anything.
    pub fn scanning_problem(&self, adapter: Option<&str>) -> Option<Missing> {
        match self.adapter(adapter) {
            Err(missing) => Some(missing),
            Ok(a) if !a.powered => Some(Missing::Power { adapter: a.name.clone() }),
            Ok(_) => None,
        }
    }

    /// What prevents advertising on the adapter, if anything.
    pub fn advertising_problem(&self, adapter: Option<&str>) -> Option<Missing> {
        self.scanning_problem(adapter).or_else(|| match self.adapter(adapter) {
            Ok(a) if a.advertising.is_none() => Some(Missing::AdvertisingManager { adapter: a.name.clone() }),
            _ => None,
        })
    }
}

const OK: &str = "ok";
const FAIL: &str = "FAIL";
const SKIP: &str = "--";

fn line(f: &mut fmt::Formatter<'_>, status: &str, what: &str, detail: &str) -> fmt::Result {
    writeln!(f, "  {status:<5} {what:<14} {detail}")
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Bluetooth LE check (BlueZ over the D-Bus system bus)")?;
        match &self.bus {
            Ok(()) => line(f, OK, "system bus", &self.bus_address)?,
            Err(reason) => line(f, FAIL, "system bus", &format!("{}: {reason}", self.bus_address))?,
        }
        match (&self.bus, self.bluez_running) {
            (Err(_), _) => line(f, SKIP, "BlueZ", "not checked")?,
            (Ok(()), true) => line(f, OK, "BlueZ", "org.bluez is running")?,
            (Ok(()), false) => line(f, FAIL, "BlueZ", "nothing owns org.bluez")?,
        }
        let kernel = match &self.kernel_controllers {
            None => "no Bluetooth support (/sys/class/bluetooth is missing)".to_owned(),
            Some(c) if c.is_empty() => "Bluetooth support, no controller".to_owned(),
            Some(c) => format!("controllers {}", c.join(", ")),
        };
        line(
            f,
            if self.kernel_controllers.as_ref().is_some_and(|c| !c.is_empty()) { OK } else { SKIP },
            "kernel",
            &kernel,
        )?;
        if self.bus.is_ok() && self.bluez_running && self.adapters.is_empty() {
            line(f, FAIL, "adapters", "none")?;
        }
        for a in &self.adapters {
            let mut detail = a.address.clone().unwrap_or_else(|| "no address".to_owned());
            detail.push_str(if a.powered { ", powered on" } else { ", powered OFF" });
            if a.discovering {
                detail.push_str(", scanning");
            }
            match a.advertising {
                Some(slots) => detail.push_str(&format!(
                    ", LE advertising: {} slot{} free, {} in use",
                    slots.available,
                    if slots.available == 1 { "" } else { "s" },
                    slots.active
                )),
                None => detail.push_str(", no LE advertising"),
            }
            let status = if a.powered && a.advertising.is_some() { OK } else { FAIL };
            line(f, status, &format!("adapter {}", a.name), &detail)?;
        }
        writeln!(f)?;
        match (self.scanning_problem(None), self.advertising_problem(None)) {
            (None, None) => {
                let name = self.adapter(None).map(|a| a.name.as_str()).unwrap_or_default();
                writeln!(f, "Ready: scanning and advertising on {name}.")
            }
            (None, Some(missing)) => {
                let name = self.adapter(None).map(|a| a.name.as_str()).unwrap_or_default();
                writeln!(f, "Scanning works on {name}; advertising does not: {missing}.")
            }
            (Some(missing), _) => writeln!(f, "Not ready: {missing}."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, powered: bool, advertising: bool) -> AdapterReport {
        AdapterReport {
            name: name.to_owned(),
            address: Some("00:01:02:03:04:05".to_owned()),
            powered,
            discovering: false,
            advertising: advertising.then_some(AdvertisingSlots { active: 1, available: 4 }),
        }
    }

    fn report(adapters: Vec<AdapterReport>) -> DoctorReport {
        DoctorReport {
            bus_address: "unix:path=/run/dbus/system_bus_socket".to_owned(),
            bus: Ok(()),
            bluez_running: true,
            adapters,
            kernel_controllers: Some(vec!["hci0".to_owned()]),
        }
    }

    #[test]
    fn a_working_adapter_reads_ready() {
        let r = report(vec![adapter("hci0", true, true), adapter("hci1", false, false)]);
        let text = r.to_string();
        assert!(
            text.contains("ok    adapter hci0   00:01:02:03:04:05, powered on, LE advertising: 4 slots free, 1 in use"),
            "{text}"
        );
        assert!(text.contains("FAIL  adapter hci1   00:01:02:03:04:05, powered OFF, no LE advertising"), "{text}");
        assert!(text.ends_with("Ready: scanning and advertising on hci0.\n"), "{text}");
        assert_eq!(r.scanning_problem(Some("hci1")), Some(Missing::Power { adapter: "hci1".to_owned() }));
        assert_eq!(
            r.scanning_problem(Some("hci7")),
            Some(Missing::NamedAdapter {
                name: "hci7".to_owned(),
                available: vec!["hci0".to_owned(), "hci1".to_owned()]
            })
        );
    }

    #[test]
    fn each_missing_piece_is_named_with_its_fix() {
        let no_bus = DoctorReport {
            bus: Err("No such file or directory".to_owned()),
            bluez_running: false,
            kernel_controllers: None,
            ..report(Vec::new())
        };
        let text = no_bus.to_string();
        assert!(text.contains("FAIL  system bus     unix:path=/run/dbus/system_bus_socket: No such file"), "{text}");
        assert!(text.contains("--    BlueZ          not checked"), "{text}");
        assert!(text.contains("Not ready: cannot reach the D-Bus system bus"), "{text}");

        let no_bluez = DoctorReport { bluez_running: false, ..report(Vec::new()) };
        assert!(no_bluez.to_string().contains("Not ready: BlueZ is not running: nothing owns org.bluez"));

        let no_adapter = DoctorReport { kernel_controllers: None, ..report(Vec::new()) };
        let text = no_adapter.to_string();
        assert!(text.contains("FAIL  adapters       none"), "{text}");
        assert!(text.contains("the kernel has no Bluetooth support loaded"), "{text}");

        let no_advertising = report(vec![adapter("hci0", true, false)]);
        assert!(
            no_advertising
                .to_string()
                .contains("Scanning works on hci0; advertising does not: Bluetooth adapter hci0 cannot advertise")
        );
    }
}
