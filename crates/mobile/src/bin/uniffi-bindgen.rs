//! uniffi's binding generator, built from the pinned uniffi version so that
//! the bindings match the library: `cargo run -p greenlight-mobile
//! --features bindgen --bin uniffi-bindgen -- generate --library
//! target/release/libgreenlight_mobile.so --language kotlin --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
