"""The hub's clock for the peers: the tests run the hub on a manual clock,
so a transmitter must stamp its frames with the hub's time, not the wall
clock's. DC09_NOW (Unix seconds) sets it; unset, the wall clock is used."""
import datetime, os
import siadc09.message as _message
import siadc09.util as _util


def install():
    """Make siadc09 stamp frames with DC09_NOW, and return that time."""
    fixed = os.environ.get("DC09_NOW")
    if fixed is None:
        return _util.now()
    t = datetime.datetime.fromtimestamp(int(fixed), datetime.UTC)
    _message.now = lambda: t
    _util.now = lambda: t
    return t
