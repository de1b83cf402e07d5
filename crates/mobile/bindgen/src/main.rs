//! uniffi's binding generator at the SDK's uniffi version, so that the
//! bindings match the library:
//! `target/uniffi-bindgen/debug/uniffi-bindgen generate --library
//! target/debug/libgreenlight_mobile.so --language kotlin --out-dir OUT`
//! (`crates/mobile/generate-bindings.sh` builds and runs it).

fn main() {
    uniffi::uniffi_bindgen_main()
}
