"""Run by test_half_open.py inside `unshare -rn` (a private network namespace): moonbar with a
WebSocket listener on 127.0.0.1 and a RawSocket listener on a Unix socket; a victim joins over
TCP, then `ip link set lo down` loses every TCP packet from then on (no FIN, no RST). moonbar must
drop the victim by its ping while a witness over the Unix socket carries on. Prints NO-FIN OK.
"""
import subprocess
import sys
import time

import mb_raw as raw
import mb_raw_ser as rs
import mb_router


def main(tmp):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    cfg = {"limits": {"ping_interval": 0.5, "ping_timeout": 0.5, "ping_rawsocket": False},
           "rawsocket": mb_router.DELETE,
           "listeners": [{"type": "rawsocket", "unix": "raw.sock"}]}
    with mb_router.running(tmp, cfg) as r:
        path = r.find("rawsocket", unix=True).unix
        callee = rs.UnixRawSocketConn(path, b"\x7f\xf1\x00\x00")
        raw.join(callee)
        raw.register(callee, "com.nofin.echo")
        caller = rs.UnixRawSocketConn(path, b"\x7f\xf1\x00\x00")
        raw.join(caller)

        def count():
            return raw.request(caller, [raw.CALL, None, {}, "wamp.session.count"])[3][0]

        base = count()
        victim = raw.RawWebSocket(r.ws_port)
        sid = raw.join(victim)[1]
        raw.subscribe(victim, "com.nofin.topic")
        assert count() == base + 1
        mark = r.log_mark()
        subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
        t0 = time.monotonic()
        line = r.wait_for_log(r"session %d .*no answer to a ping" % sid, timeout=5, since=mark).string
        took = time.monotonic() - t0
        print("dropped after %.2f s: %s" % (took, line.strip()))
        assert took < mb_router.T(2.0), took
        # the witness carries on over the Unix socket
        caller.send_json([raw.CALL, 77, {}, "com.nofin.echo", ["hi"]])
        inv = raw.expect(callee, raw.INVOCATION)
        callee.send_json([raw.YIELD, inv[1], {}, inv[4]])
        res = raw.expect(caller, raw.RESULT)
        assert res[1] == 77 and res[3] == ["hi"], res
        assert count() == base
        # and the victim heard nothing: no FIN, no close frame ever reached it
        try:
            victim.recv_frame(timeout=0.5)
            raise AssertionError("the victim got a frame through a link that is down")
        except raw.Timeout:
            pass
        bad = [ln for ln in r.log.splitlines() if " error " in ln or " crit " in ln]
        assert not bad, bad
        victim.close()
        caller.close()
        callee.close()
    print("NO-FIN OK")


if __name__ == "__main__":
    main(sys.argv[1])
