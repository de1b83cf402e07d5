// The resident's story through the SDK's Kotlin bindings on the JVM (JNA),
// against the real server binaries: the same story as
// ../python/test_story.py. Two phones, a real poster, a portal-issued code,
// the close contact turning yellow with its reasons; bad input raising
// typed exceptions that change nothing.
//
// Run by tests/mobile/kotlin.sh (from tests/mobile.sh): the first argument
// is the directory with `greenlight-server` and `greenlight`;
// `jna.library.path` names the directory with libgreenlight_mobile.so.
// The deployment (server, portal staff, venue owner) is
// ../deployment.py, run as a program.

import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import uniffi.greenlight_mobile.Clock
import uniffi.greenlight_mobile.Color
import uniffi.greenlight_mobile.DeviceCalibration
import uniffi.greenlight_mobile.GreenlightException
import uniffi.greenlight_mobile.GreenlightPhone
import uniffi.greenlight_mobile.Reason
import uniffi.greenlight_mobile.ScannedAdvertisement
import uniffi.greenlight_mobile.ServerConfig
import uniffi.greenlight_mobile.generateDeviceKey

const val DAY = 86_400L

fun unixNow(): Long = System.currentTimeMillis() / 1000

/** The injectable clock: days pass when the story says so. */
class StoryClock : Clock {
    @Volatile var t: Long? = null

    override fun now(): ULong = (t ?: unixNow()).toULong()
}

/**
 * The parts that are not the phone's (health authority, its staff, a venue
 * owner), played by ../deployment.py as a child process: one JSON line of
 * URLs and keys, then an upload code for each line `code`.
 */
class Deployment(script: File, binDir: String) : AutoCloseable {
    private val process: Process =
        ProcessBuilder("python3", script.path, binDir).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    private val reader = process.inputStream.bufferedReader()
    private val writer = process.outputStream.bufferedWriter()
    private val first: String = reader.readLine() ?: error("the deployment did not start (see its error above)")

    private fun field(name: String): String =
        Regex("\"$name\": \"([^\"]*)\"").find(first)?.groupValues?.get(1) ?: error("no $name in $first")

    val url = field("url")
    val exportKey = field("export_key")
    val authorityKey = field("authority_key")
    val poster = field("poster")

    /** Staff issue an upload code in the portal, as in a browser. */
    fun issueCode(): String {
        writer.write("code\n")
        writer.flush()
        return reader.readLine() ?: error("the deployment stopped")
    }

    override fun close() {
        writer.close()
        if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

/** Runs a few lines of Python's sqlite3 on a store file (as an attacker or a newer app would). */
fun sqlite(db: File, code: String): String {
    val p = ProcessBuilder("python3", "-c", "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\n$code\ndb.commit()", db.path)
        .redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "python3 sqlite3 failed: $out" }
    return out.trim()
}

fun config(d: Deployment) =
    ServerConfig(keyServerUrl = d.url, authorityUrl = null, exportKeyHex = d.exportKey, authorityKeyHex = d.authorityKey)

fun aDiagnosisReportedThroughTheSdkTurnsTheCloseContactYellow(d: Deployment, tmp: File) {
    // Alice keeps her store under a passphrase and advertises at -25 dBm;
    // Bob's device key comes from the platform keystore.
    val aliceDir = File(tmp, "alice").path
    val bobDir = File(tmp, "bob").path
    var alice = GreenlightPhone.openWithPassphrase(aliceDir, "alice's passphrase", DeviceCalibration(txPowerDbm = -25, rssiCorrectionDb = 0))
    val bobKey = generateDeviceKey()
    assertEquals(32, bobKey.size)
    val bob = GreenlightPhone.openWithKey(bobDir, bobKey, null)
    val aliceClock = StoryClock()
    val bobClock = StoryClock()
    alice.setClock(aliceClock)
    bob.setClock(bobClock)

    // Wrong order: nothing configured yet.
    assertFailsWith<GreenlightException.NotConfigured> { bob.sync() }
    assertFailsWith<GreenlightException.NotConfigured> { alice.report("12345678", listOf()) }
    assertEquals(Color.STALE, bob.status().color, "never synced: stale, not a silent green")
    val stale = bob.currentPass()
    assertEquals("STALE", stale.word, "a stale pass says so")
    assertEquals(false, stale.admits)
    assertEquals(null, stale.region)
    assertFailsWith<GreenlightException.InvalidArgument> {
        bob.configure(config(d).copy(keyServerUrl = "not a url"))
    }
    assertFalse(bob.isConfigured(), "a refused configuration stores nothing")
    alice.configure(config(d))
    bob.configure(config(d))

    // Two days ago, 09:00-09:45, Bob sits next to Alice: his scanner hears
    // her advertisement every 5 minutes at -80 dBm (55 dB from -25 dBm).
    val today = unixNow() / DAY
    val meeting = (today - 2) * DAY + 9 * 3600
    val heard = mutableSetOf<String>()
    var last: ByteArray? = null
    for (k in 0 until 9) {
        val t = meeting + k * 300
        aliceClock.t = t
        bobClock.t = t
        val ad = assertNotNull(alice.advertisement())
        assertEquals(20, ad.serviceData.size)
        assertEquals(31, ad.packet.size)
        assertTrue(ad.validUntil.toLong() in (t + 1)..(t + 600), "valid until the next rotation")
        heard.add(ad.serviceData.joinToString("") { "%02x".format(it) })
        last = ad.packet
        val recorded = bob.recordSightings(listOf(ScannedAdvertisement(payload = ad.serviceData, rssi = -80, seenAt = t.toULong())))
        assertEquals(1u, recorded.stored)
    }
    assertEquals(5, heard.size, "45 minutes span five 10-minute intervals: five different IDs")
    // A garbage payload refuses the whole call.
    assertFailsWith<GreenlightException.InvalidArgument> {
        bob.recordSightings(listOf(
            ScannedAdvertisement(payload = last!!, rssi = -80, seenAt = meeting.toULong()),
            ScannedAdvertisement(payload = byteArrayOf(1, 2, 3), rssi = -80, seenAt = meeting.toULong()),
        ))
    }
    aliceClock.t = null
    bobClock.t = null

    // Today Alice visits the café: her camera reads the printed poster.
    assertFailsWith<GreenlightException.NotAPoster> { alice.checkIn("GL1:this-is-not-a-poster") }
    assertFailsWith<GreenlightException.NotAPoster> { alice.checkIn("https://example.com/some other QR code") }
    val checked = alice.checkIn(d.poster)
    val atDoor = alice.currentPass()
    assertEquals("Cafe Mobile", atDoor.checkIn?.venue, "the guard sees the venue checked in to")
    assertEquals(alice.visits().single(), atDoor.checkIn, "the visit in progress, arrival to the minute")
    assertEquals("Cafe Mobile", checked.venue)
    assertFalse(checked.extended)
    val visit = alice.visits().single()
    assertEquals("Cafe Mobile", visit.venue)
    assertEquals("restaurant", visit.kind)
    val out = alice.checkOut()
    assertTrue(out.departure >= out.arrival)
    assertFailsWith<GreenlightException.NotCheckedIn> { alice.checkOut() }
    assertEquals(out.departure, alice.visits().single().departure, "the diary has the real departure")

    // She tests positive; staff issue her a code in the portal.
    val refused = assertFailsWith<GreenlightException.Refused> { alice.report("00000000", listOf()) }
    assertEquals("verify", refused.step)
    assertFailsWith<GreenlightException.InvalidArgument> { alice.report(d.issueCode(), listOf("not a visit id")) }
    val code = d.issueCode()
    val offered = alice.revealableVisits().single()
    assertEquals(visit.id, offered.id)
    val reported = alice.report(code, listOf(visit.id))
    assertTrue((today - 2).toUInt() in reported.days, "the meeting day's key was published: ${reported.days}")
    assertEquals(1u, reported.revealedVisits)
    assertEquals(1.toUByte(), reported.reportType)
    val red = alice.status()
    assertEquals(Color.RED, red.color)
    assertTrue(red.reasons.any { it is Reason.Diagnosis }, red.explanation)
    assertFailsWith<GreenlightException> { alice.report(code, listOf()) }
    aliceClock.t = meeting
    assertNull(alice.advertisement(), "a published key is never broadcast again")
    aliceClock.t = null

    // Bob's phone syncs (the server exports every second) and turns yellow.
    val deadline = System.currentTimeMillis() + 60_000
    var status = bob.status()
    while (true) {
        bob.sync()
        status = bob.status()
        if (status.color == Color.YELLOW || System.currentTimeMillis() > deadline) break
        Thread.sleep(500)
    }
    assertEquals(Color.YELLOW, status.color, status.explanation)
    val ble = status.reasons.filterIsInstance<Reason.BluetoothDay>()
    assertEquals(1, ble.size, status.reasons.toString())
    assertEquals((today - 2).toUInt(), ble[0].day)
    assertTrue(ble[0].qualifies)
    assertTrue(ble[0].weightedMinutes >= ble[0].thresholdMinutes.toULong())
    assertTrue(assertNotNull(status.until).toLong() > unixNow())
    val yellow = bob.currentPass()
    assertEquals("YELLOW", yellow.word)
    assertEquals(false, yellow.admits)
    assertEquals(status.until, yellow.status.until)
    assertNotNull(yellow.region)
    assertTrue("Bluetooth" in status.explanation, status.explanation)

    // A wrong passphrase is refused and changes nothing; the right one opens.
    alice.close()
    assertFailsWith<GreenlightException.WrongKey> { GreenlightPhone.openWithPassphrase(aliceDir, "not alice's passphrase", null) }
    alice = GreenlightPhone.openWithPassphrase(aliceDir, "alice's passphrase", null)
    assertEquals(Color.RED, alice.status().color)
    assertEquals(1, alice.visits().size)
    assertFailsWith<GreenlightException.WrongKey> { GreenlightPhone.openWithKey(bobDir, generateDeviceKey(), null) }
    assertFailsWith<GreenlightException.InvalidArgument> {
        GreenlightPhone.openWithKey(File(tmp, "short").path, "too short".toByteArray(), null)
    }

    // A tampered file: a sealed exposure altered on disk.
    sqlite(File(bobDir, "greenlight.db"), """
        (row, sealed), = db.execute("SELECT id, sealed FROM exposures LIMIT 1").fetchall()
        db.execute("UPDATE exposures SET sealed = ? WHERE id = ?", (bytes([sealed[0] ^ 1]) + sealed[1:], row))
    """.trimIndent())
    assertFailsWith<GreenlightException.Tampered> { bob.status() }
    bob.close()

    // Wipe: everything gone, the object closed.
    alice.wipe()
    assertFalse(File(aliceDir, "greenlight.db").exists())
    assertFailsWith<GreenlightException.Closed> { alice.status() }
    alice.close()
}

fun aStoreFromANewerVersionIsRefusedUntouched(tmp: File) {
    val dir = File(tmp, "newer")
    GreenlightPhone.openWithKey(dir.path, ByteArray(32), null).close()
    val db = File(dir, "greenlight.db")
    sqlite(db, "db.execute('PRAGMA user_version = 99')")
    val newer = assertFailsWith<GreenlightException.NewerStore> { GreenlightPhone.openWithKey(dir.path, ByteArray(32), null) }
    assertEquals(99u, newer.found)
    assertEquals(2u, newer.known)
    assertEquals("99", sqlite(db, "print(db.execute('PRAGMA user_version').fetchone()[0])"), "left as it was")
}

fun main(args: Array<String>) {
    val binDir = args.getOrNull(0) ?: error("usage: StoryKt BIN_DIR")
    val script = File(System.getProperty("greenlight.deployment") ?: "tests/mobile/deployment.py")
    val tmp = Files.createTempDirectory("greenlight-kotlin-story").toFile()
    var passed = 0
    var failed = 0
    fun play(name: String, story: () -> Unit) {
        try {
            story()
            passed++
            println("ok: $name")
        } catch (e: Throwable) {
            failed++
            println("FAILED: $name")
            e.printStackTrace(System.out)
        }
    }
    try {
        Deployment(script, binDir).use { d ->
            play("a diagnosis reported through the SDK turns the close contact yellow") {
                aDiagnosisReportedThroughTheSdkTurnsTheCloseContactYellow(d, tmp)
            }
        }
        play("a store from a newer version is refused untouched") { aStoreFromANewerVersionIsRefusedUntouched(tmp) }
    } finally {
        tmp.deleteRecursively()
    }
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
