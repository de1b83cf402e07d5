// The Kotlin half of the SDK's FFI benchmark (crates/mobile/benches/sdk.rs
// runs it and compares with the same calls from Rust): nanoseconds per
// call (the fastest of five rounds) of status(), advertisement() and now()
// through the generated bindings and JNA, on the phone the Rust side
// prepared.
//
// java -cp CLASSPATH -Djna.library.path=DIR BenchKt PHONE_DIR DEVICE_KEY_HEX CALLS
// prints one line per method: `<name> <nanoseconds per call>`.

import java.util.Locale
import uniffi.greenlight_mobile.GreenlightPhone

/** Rounds of calls; the fastest counts, as on the Rust side (sdk.rs). */
const val ROUNDS = 5

fun perCall(n: Int, call: () -> Unit): Double {
    // The JIT compiles the call path first: a tenth of the calls, and at
    // least a thousand, are not counted.
    repeat(maxOf(n / 10, 1000)) { call() }
    val calls = maxOf(n / ROUNDS, 1)
    return (1..ROUNDS).minOf {
        val started = System.nanoTime()
        repeat(calls) { call() }
        (System.nanoTime() - started).toDouble() / calls
    }
}

fun main(args: Array<String>) {
    require(args.size == 3) { "usage: BenchKt PHONE_DIR DEVICE_KEY_HEX CALLS" }
    val key = args[1].chunked(2).map { it.toInt(16).toByte() }.toByteArray()
    val n = args[2].toInt()
    GreenlightPhone.openWithKey(args[0], key, null).use { phone ->
        var sink = 0L
        fun report(name: String, ns: Double) = println(String.format(Locale.ROOT, "%s %.1f", name, ns))
        report("status", perCall(n) { sink += phone.status().reasons.size + 1 })
        report("advertisement", perCall(n) { sink += phone.advertisement()!!.packet.size })
        report("now", perCall(n) { sink += phone.now().toLong() })
        check(sink != 0L)
    }
}
