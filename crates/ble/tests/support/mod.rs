//! The test harness for the BlueZ backend: a private D-Bus system bus
//! (`dbus-daemon`) with python3-dbusmock's `bluez5` template on it, and a
//! client to drive the mock.
//!
//! btleplug and bluer find the system bus through `DBUS_SYSTEM_BUS_ADDRESS`
//! only, and a test cannot change its own environment safely, so each test
//! starts its bus and mock, then re-runs itself in a child process with the
//! variable pointing there ([`on_private_bus`]). Missing tools are a test
//! failure that says how to install them, never a skip.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use dbus::arg::{Append, AppendAll, Arg, PropMap, ReadAll, RefArg, Variant};
use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus::channel::Channel;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process to the name of the test it runs.
const CHILD: &str = "GREENLIGHT_BLE_TEST_CHILD";
const SETUP: &str = "run `bash crates/ble/tests/setup.sh` (it installs dbus-daemon and python3-dbusmock)";
const MOCK_INTERFACE: &str = "org.freedesktop.DBus.Mock";
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What to put on the private bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bus {
    /// The bus alone: no BlueZ.
    Empty,
    /// dbusmock's `bluez5` template, with no adapter yet.
    MockBluez,
}

/// A Python interpreter that can import dbusmock. Debian's package
/// installs it for the system Python, which may not be the first
/// `python3` on the PATH.
fn python() -> PathBuf {
    let candidates = std::env::var_os("GREENLIGHT_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")]);
    for candidate in candidates {
        let imports = Command::new(&candidate)
            .args(["-c", "import dbusmock"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if imports {
            return candidate;
        }
    }
    panic!("python3-dbusmock is not installed (no Python here can `import dbusmock`): {SETUP}");
}

fn require_dbus_daemon() {
    let found = Command::new("dbus-daemon").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "dbus-daemon is not installed: {SETUP}");
}

/// A `dbus-daemon` of our own, and optionally the BlueZ mock on it.
pub(crate) struct PrivateBus {
    dir: PathBuf,
    address: String,
    daemon: Child,
    mock: Option<Child>,
}

impl PrivateBus {
    /// Starts a bus (and the mock) in a fresh temporary directory.
    pub(crate) fn start(name: &str, bus: Bus) -> Self {
        require_dbus_daemon();
        let python = (bus == Bus::MockBluez).then(python);
        let dir = std::env::temp_dir().join(format!("greenlight-ble-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bus directory");
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <keep_umask/>
  <listen>unix:path={}/bus</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.display()
            ),
        )
        .expect("write the bus config");
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().expect("piped")).read_line(&mut address).expect("read the bus address");
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");

        let mut bus = PrivateBus { dir, address, daemon, mock: None };
        if let Some(python) = python {
            let log = bus.dir.join("mock.log");
            let mock = Command::new(python)
                .args(["-m", "dbusmock", "--system", "--template", "bluez5", "--logfile"])
                .arg(&log)
                .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start python3 -m dbusmock");
            bus.mock = Some(mock);
            bus.wait_for_name("org.bluez");
        }
        bus
    }

    /// The bus address.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    fn wait_for_name(&self, name: &str) {
        let connection = connect(&self.address);
        let proxy = connection.with_proxy("org.freedesktop.DBus", "/org/freedesktop/DBus", CALL_TIMEOUT);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (owned,): (bool,) =
                proxy.method_call("org.freedesktop.DBus", "NameHasOwner", (name,)).expect("ask the bus");
            if owned {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not appear on the private bus; mock log:\n{}",
                self.mock_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the mock logged (every method call it received).
    pub(crate) fn mock_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mock.log")).unwrap_or_default()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        for child in self.mock.iter_mut().chain([&mut self.daemon]) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `scenario` in a child process whose system bus is a fresh private
/// bus holding `bus`. `name` must be the name of the calling test.
pub(crate) fn on_private_bus<F, Fut>(name: &str, bus: Bus, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var(CHILD).is_ok_and(|child| child == name) {
        let address = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").expect("the parent sets the bus address");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), scenario(address))
                .await
                .expect("the scenario took over 60 s");
        });
        return;
    }

    let private = PrivateBus::start(name, bus);
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", private.address())
        .env(CHILD, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect the child's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed on the private bus ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- mock log\n{}",
        output.status,
        private.mock_log()
    );
}

/// A blocking D-Bus connection to `address`.
pub(crate) fn connect(address: &str) -> Connection {
    let mut channel = Channel::open_private(address).expect("connect to the private bus");
    channel.register().expect("say hello to the private bus");
    Connection::from(channel)
}

/// Drives the BlueZ mock. Blocking: inside the scenario's runtime every call
/// goes through `block_in_place`, so that the radio's tasks keep running.
pub(crate) struct Mock {
    connection: Connection,
}

fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

impl Mock {
    /// Connects to the mock on the bus at `address`.
    pub(crate) fn connect(address: &str) -> Self {
        Mock { connection: connect(address) }
    }

    fn call<A: AppendAll, R: ReadAll + 'static>(&self, path: &str, interface: &str, method: &str, args: A) -> R {
        blocking(|| {
            self.connection
                .with_proxy("org.bluez", path, CALL_TIMEOUT)
                .method_call(interface, method, args)
                .unwrap_or_else(|e| panic!("{interface}.{method} on {path}: {e}"))
        })
    }

    /// Adds adapter `name` (`hci0`), powered on; returns its object path.
    pub(crate) fn add_adapter(&self, name: &str) -> String {
        let (path,): (String,) = self.call("/", "org.bluez.Mock", "AddAdapter", (name, "greenlight-test"));
        path
    }

    /// Adds a device seen by `adapter` at `address`; returns its object path.
    pub(crate) fn add_device(&self, adapter: &str, address: &str) -> String {
        let (path,): (String,) = self.call("/", "org.bluez.Mock", "AddDevice", (adapter, address, "phone"));
        path
    }

    /// Sets a property through `org.freedesktop.DBus.Properties.Set`, which
    /// makes the mock emit `PropertiesChanged` as BlueZ does.
    pub(crate) fn set<T: Arg + Append>(&self, path: &str, interface: &str, property: &str, value: T) {
        blocking(|| {
            self.connection
                .with_proxy("org.bluez", path, CALL_TIMEOUT)
                .set(interface, property, value)
                .unwrap_or_else(|e| panic!("set {interface}.{property} on {path}: {e}"));
        });
    }

    /// A new RSSI for a device, as BlueZ reports on every advertisement.
    pub(crate) fn set_rssi(&self, device: &str, rssi: i16) {
        self.set(device, "org.bluez.Device1", "RSSI", rssi);
    }

    /// New service data for a device.
    pub(crate) fn set_service_data(&self, device: &str, uuid: &str, data: &[u8]) {
        let service_data: HashMap<String, Variant<Vec<u8>>> =
            HashMap::from([(uuid.to_owned(), Variant(data.to_vec()))]);
        self.set(device, "org.bluez.Device1", "ServiceData", service_data);
    }

    /// Gives `adapter` BlueZ's LE advertising manager, which the template
    /// lacks: the two methods (recorded, doing nothing) and the properties.
    pub(crate) fn add_advertising_manager(&self, adapter: &str) {
        let manager = "org.bluez.LEAdvertisingManager1";
        let methods = vec![("RegisterAdvertisement", "oa{sv}", "", ""), ("UnregisterAdvertisement", "o", "", "")];
        let () = self.call(adapter, MOCK_INTERFACE, "AddMethods", (manager, methods));
        let mut properties = PropMap::new();
        properties.insert("ActiveInstances".to_owned(), Variant(Box::new(0u8)));
        properties.insert("SupportedInstances".to_owned(), Variant(Box::new(5u8)));
        properties.insert("SupportedIncludes".to_owned(), Variant(Box::new(vec!["tx-power".to_owned()])));
        let () = self.call(adapter, MOCK_INTERFACE, "AddProperties", (manager, properties));
    }

    /// Every method call `path` received, in order: (method, arguments).
    pub(crate) fn calls(&self, path: &str) -> Vec<(String, Vec<Box<dyn RefArg>>)> {
        type Calls = Vec<(u64, String, Vec<Variant<Box<dyn RefArg>>>)>;
        let (calls,): (Calls,) = self.call(path, MOCK_INTERFACE, "GetCalls", ());
        calls.into_iter().map(|(_, method, args)| (method, args.into_iter().map(|v| v.0).collect())).collect()
    }

    /// The calls of `method` that `path` received.
    pub(crate) fn calls_of(&self, path: &str, method: &str) -> Vec<Vec<Box<dyn RefArg>>> {
        self.calls(path).into_iter().filter(|(m, _)| m == method).map(|(_, args)| args).collect()
    }

    /// Waits until `path` has received `method` at least `count` times.
    pub(crate) fn wait_for_calls(&self, path: &str, method: &str, count: usize) -> Vec<Vec<Box<dyn RefArg>>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls_of(path, method);
            if calls.len() >= count {
                return calls;
            }
            assert!(Instant::now() < deadline, "{method} was called {} times on {path}, not {count}", calls.len());
            blocking(|| std::thread::sleep(Duration::from_millis(20)));
        }
    }

    /// The properties of the `org.bluez.LEAdvertisement1` object at `path`
    /// exported by this process (bluer's connection), as BlueZ reads them
    /// when an advertisement is registered.
    pub(crate) fn advertisement(&self, path: &str) -> PropMap {
        blocking(|| {
            let bus = self.connection.with_proxy("org.freedesktop.DBus", "/org/freedesktop/DBus", CALL_TIMEOUT);
            let (names,): (Vec<String>,) =
                bus.method_call("org.freedesktop.DBus", "ListNames", ()).expect("list names");
            let own = self.connection.unique_name().to_string();
            for name in names.iter().filter(|n| n.starts_with(':') && *n != &own) {
                let pid: Result<(u32,), _> =
                    bus.method_call("org.freedesktop.DBus", "GetConnectionUnixProcessID", (name,));
                if pid.is_ok_and(|(pid,)| pid == std::process::id()) {
                    let object = self.connection.with_proxy(name.as_str(), path, Duration::from_secs(2));
                    if let Ok(properties) = object.get_all("org.bluez.LEAdvertisement1") {
                        return properties;
                    }
                }
            }
            panic!("no connection of this process exports an advertisement at {path}");
        })
    }
}

/// The value of `key` in a D-Bus dictionary argument (`a{sv}`).
pub(crate) fn dict_entry<'a>(dict: &'a dyn RefArg, key: &str) -> Option<&'a dyn RefArg> {
    let mut items = dict.as_iter()?;
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        if k.as_str() == Some(key) {
            return Some(v);
        }
    }
    None
}

/// Every string inside a D-Bus value (through variants and arrays).
pub(crate) fn strings(value: &dyn RefArg) -> Vec<String> {
    if let Some(s) = value.as_str() {
        return vec![s.to_owned()];
    }
    value.as_iter().map(|items| items.flat_map(strings).collect()).unwrap_or_default()
}
