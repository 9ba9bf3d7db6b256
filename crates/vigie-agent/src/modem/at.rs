//! AT command client over a serial port (to be written).
