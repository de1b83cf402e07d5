//! Fills in a [`DoctorReport`] by asking the D-Bus system bus and BlueZ,
//! one step at a time, so the report can say which step failed.

use crate::doctor::{AdapterReport, AdvertisingSlots, DoctorReport, kernel_controllers, system_bus_address};
use dbus::arg::{PropMap, RefArg, prop_cast};
use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::ObjectManager;
use dbus::channel::Channel;
use std::time::Duration;

/// How long one D-Bus call of the doctor may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

const ADAPTER: &str = "org.bluez.Adapter1";
const ADVERTISING_MANAGER: &str = "org.bluez.LEAdvertisingManager1";

/// Diagnoses Bluetooth LE on the system bus that BlueZ clients use
/// (`DBUS_SYSTEM_BUS_ADDRESS`, or the default).
///
/// Blocks for up to a few seconds; from async code, call it through
/// `tokio::task::spawn_blocking`.
pub fn doctor() -> DoctorReport {
    doctor_on(&system_bus_address())
}

/// Diagnoses Bluetooth LE through the D-Bus bus at `address`.
pub fn doctor_on(address: &str) -> DoctorReport {
    let mut report = DoctorReport {
        bus_address: address.to_owned(),
        bus: Ok(()),
        bluez_running: false,
        adapters: Vec::new(),
        kernel_controllers: kernel_controllers(),
    };
    let connection = match connect(address) {
        Ok(connection) => connection,
        Err(reason) => {
            report.bus = Err(reason);
            return report;
        }
    };
    // Asking BlueZ's object manager directly also starts bluetoothd if the
    // bus can activate it, as any BlueZ client would.
    let bluez = connection.with_proxy("org.bluez", "/", CALL_TIMEOUT);
    let Ok(objects) = bluez.get_managed_objects() else {
        return report;
    };
    report.bluez_running = true;
    for (path, interfaces) in objects {
        let Some(adapter) = interfaces.get(ADAPTER) else { continue };
        let Some(name) = path.strip_prefix("/org/bluez/") else { continue };
        report.adapters.push(AdapterReport {
            name: name.to_owned(),
            address: prop_cast::<String>(adapter, "Address").cloned(),
            powered: flag(adapter, "Powered"),
            discovering: flag(adapter, "Discovering"),
            advertising: interfaces.get(ADVERTISING_MANAGER).map(|manager| AdvertisingSlots {
                active: byte(manager, "ActiveInstances"),
                available: byte(manager, "SupportedInstances"),
            }),
        });
    }
    report.adapters.sort_by(|a, b| a.name.cmp(&b.name));
    report
}

fn connect(address: &str) -> Result<Connection, String> {
    let describe = |e: dbus::Error| e.message().or(e.name()).unwrap_or("unknown error").to_owned();
    let mut channel = Channel::open_private(address).map_err(describe)?;
    channel.register().map_err(describe)?;
    Ok(Connection::from(channel))
}

fn flag(properties: &PropMap, name: &str) -> bool {
    prop_cast::<bool>(properties, name).copied().unwrap_or(false)
}

fn byte(properties: &PropMap, name: &str) -> u8 {
    properties.get(name).and_then(|v| v.0.as_u64()).and_then(|v| u8::try_from(v).ok()).unwrap_or(0)
}
