// Checksummed records: one line each, "<payload length> <FNV-1a 64 of payload, 16 hex>
// <payload>\n". The payload is compact JSON, which never holds a raw newline, so a record is
// a line and a torn append (a crash mid-write) shows as a last line without its newline or
// with a checksum that does not match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace natctl::store {

std::uint64_t fnv1a64(std::string_view bytes);

// The framed line for `payload`, newline included. payload must not contain '\n'.
std::string frame(std::string_view payload);

// The header that frame() puts before a payload made of `parts` (concatenated in order):
// header, parts and "\n" written one after the other are frame() of the payload, without
// the payload ever being one string.
std::string frame_header(std::span<const std::string_view> parts);

// The size of frame() of a payload of `payload_size` bytes.
std::size_t framed_size(std::size_t payload_size);

// The payload of one line (newline stripped), or why the line is not a valid record.
std::expected<std::string_view, std::string> unframe(std::string_view line);

struct Record {
    std::string_view payload;
    std::size_t offset = 0;  // of the record's first byte in the file
};

struct Scan {
    std::vector<Record> records;
    std::size_t valid_bytes = 0;      // length of the prefix made of whole, valid records
    std::optional<std::string> torn;  // why the tail after valid_bytes was dropped
};

// Splits a journal into records. A damaged LAST record is a torn append and is reported in
// `torn` (the caller drops it); damage anywhere before the last record is an error
// "record N (byte offset O): reason" — the caller must not guess past it.
std::expected<Scan, std::string> scan_records(std::string_view content);

}  // namespace natctl::store
