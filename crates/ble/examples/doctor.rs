//! Prints what `greenlight ble doctor` will print: the Bluetooth LE check of
//! this machine. `cargo run -p greenlight-ble --features bluez --example doctor`.

fn main() {
    print!("{}", greenlight_ble::bluez::doctor());
}
