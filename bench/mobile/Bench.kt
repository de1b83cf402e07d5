// The Kotlin half of the SDK's FFI benchmark (crates/mobile/benches/sdk.rs
// runs it and compares with the same calls from Rust): nanoseconds per
// call of status(), advertisement() and now() through the generated
// bindings and JNA, on the phone the Rust side prepared.
//
// java -cp CLASSPATH -Djna.library.path=DIR BenchKt PHONE_DIR DEVICE_KEY_HEX CALLS
// prints one line per method: `<name> <nanoseconds per call>`.

import uniffi.greenlight_mobile.GreenlightPhone

fun perCall(n: Int, call: () -> Unit): Double {
    // The JIT compiles the call path first: a tenth of the calls, and at
    // least a thousand, are not counted.
    repeat(maxOf(n / 10, 1000)) { call() }
    val started = System.nanoTime()
    repeat(n) { call() }
    return (System.nanoTime() - started).toDouble() / n
}

fun main(args: Array<String>) {
    require(args.size == 3) { "usage: BenchKt PHONE_DIR DEVICE_KEY_HEX CALLS" }
    val key = args[1].chunked(2).map { it.toInt(16).toByte() }.toByteArray()
    val n = args[2].toInt()
    GreenlightPhone.openWithKey(args[0], key, null).use { phone ->
        var sink = 0L
        println("status %.1f".format(perCall(n) { sink += phone.status().reasons.size }))
        println("advertisement %.1f".format(perCall(n) { sink += phone.advertisement()!!.packet.size }))
        println("now %.1f".format(perCall(n) { sink += phone.now().toLong() }))
        check(sink != 0L)
    }
}
