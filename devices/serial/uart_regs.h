// National Semiconductor PC16550D UART registers (datasheet, June 1995), as offsets from the
// port's base. Offsets 0 and 1 are the divisor latch while LCR.DLAB is set.
#pragma once

#include <cstdint>

namespace hvmd::devices::uart {

inline constexpr uint16_t kPortCount = 8;

// Offsets.
inline constexpr unsigned kRbrThr = 0;  // receive buffer (read) / transmit holding (write)
inline constexpr unsigned kIer = 1;     // interrupt enable
inline constexpr unsigned kIirFcr = 2;  // interrupt identification (read) / FIFO control (write)
inline constexpr unsigned kLcr = 3;     // line control
inline constexpr unsigned kMcr = 4;     // modem control
inline constexpr unsigned kLsr = 5;     // line status
inline constexpr unsigned kMsr = 6;     // modem status
inline constexpr unsigned kScr = 7;     // scratch
inline constexpr unsigned kDll = 0;     // divisor latch, low byte (DLAB)
inline constexpr unsigned kDlm = 1;     // divisor latch, high byte (DLAB)

// IER.
inline constexpr uint8_t kIerReceivedData = 1u << 0;
inline constexpr uint8_t kIerTransmitEmpty = 1u << 1;
inline constexpr uint8_t kIerLineStatus = 1u << 2;
inline constexpr uint8_t kIerModemStatus = 1u << 3;
inline constexpr uint8_t kIerMask = 0x0f;

// IIR: bit 0 clear while an interrupt is pending; bits 3:1 name the highest-priority one.
inline constexpr uint8_t kIirNoInterrupt = 0x01;
inline constexpr uint8_t kIirLineStatus = 0x06;
inline constexpr uint8_t kIirReceivedData = 0x04;
inline constexpr uint8_t kIirCharacterTimeout = 0x0c;
inline constexpr uint8_t kIirTransmitEmpty = 0x02;
inline constexpr uint8_t kIirModemStatus = 0x00;
inline constexpr uint8_t kIirFifosEnabled = 0xc0;

// FCR.
inline constexpr uint8_t kFcrEnable = 1u << 0;
inline constexpr uint8_t kFcrClearReceive = 1u << 1;
inline constexpr uint8_t kFcrClearTransmit = 1u << 2;
inline constexpr uint8_t kFcrTriggerShift = 6;  // receive trigger: 1, 4, 8 or 14 bytes

// LCR.
inline constexpr uint8_t kLcrDlab = 1u << 7;

// MCR.
inline constexpr uint8_t kMcrDtr = 1u << 0;
inline constexpr uint8_t kMcrRts = 1u << 1;
inline constexpr uint8_t kMcrOut1 = 1u << 2;
inline constexpr uint8_t kMcrOut2 = 1u << 3;  // on PCs, gates the interrupt line
inline constexpr uint8_t kMcrLoop = 1u << 4;
inline constexpr uint8_t kMcrMask = 0x1f;

// LSR.
inline constexpr uint8_t kLsrDataReady = 1u << 0;
inline constexpr uint8_t kLsrOverrun = 1u << 1;
inline constexpr uint8_t kLsrParity = 1u << 2;
inline constexpr uint8_t kLsrFraming = 1u << 3;
inline constexpr uint8_t kLsrBreak = 1u << 4;
inline constexpr uint8_t kLsrTransmitEmpty = 1u << 5;  // THR (or the TX FIFO) empty
inline constexpr uint8_t kLsrTransmitterIdle = 1u << 6;
inline constexpr uint8_t kLsrFifoError = 1u << 7;
inline constexpr uint8_t kLsrErrors = kLsrOverrun | kLsrParity | kLsrFraming | kLsrBreak;

// MSR: deltas in the low nibble (cleared by reading), line states in the high one.
inline constexpr uint8_t kMsrDeltaCts = 1u << 0;
inline constexpr uint8_t kMsrDeltaDsr = 1u << 1;
inline constexpr uint8_t kMsrTrailingRi = 1u << 2;
inline constexpr uint8_t kMsrDeltaDcd = 1u << 3;
inline constexpr uint8_t kMsrCts = 1u << 4;
inline constexpr uint8_t kMsrDsr = 1u << 5;
inline constexpr uint8_t kMsrRi = 1u << 6;
inline constexpr uint8_t kMsrDcd = 1u << 7;

inline constexpr unsigned kFifoSize = 16;
inline constexpr uint32_t kClockHz = 1843200;  // the PC's 1.8432 MHz crystal, /16 per bit
inline constexpr unsigned kBitsPerCharacter = 10;  // start, 8 data, stop: the timeout's unit

// The PC's four COM ports.
struct ComPort {
  uint16_t base;
  unsigned irq;
};
inline constexpr ComPort kComPorts[] = {{0x3f8, 4}, {0x2f8, 3}, {0x3e8, 4}, {0x2e8, 3}};

}  // namespace hvmd::devices::uart
