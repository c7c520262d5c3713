#include "controller/store/framing.hpp"

#include <charconv>

#include <fmt/format.h>

#include "util/fnv1a.hpp"

namespace natctl::store {

std::uint64_t fnv1a64(std::string_view bytes) {
    return util::fnv1a64(bytes);
}

std::string frame(std::string_view payload) {
    return fmt::format("{} {:016x} {}\n", payload.size(), fnv1a64(payload), payload);
}

std::string frame_header(std::span<const std::string_view> parts) {
    // util::fnv1a64 continued across the parts: the same hash as over their concatenation.
    std::uint64_t hash = util::fnv1a64({});
    std::size_t size = 0;
    for (auto part : parts) {
        size += part.size();
        for (char c : part) {
            hash ^= static_cast<unsigned char>(c);
            hash *= 0x100000001b3ull;
        }
    }
    return fmt::format("{} {:016x} ", size, hash);
}

std::size_t framed_size(std::size_t payload_size) {
    // "<length> <16 hex digits> <payload>\n"
    return fmt::formatted_size("{}", payload_size) + 1 + 16 + 1 + payload_size + 1;
}

std::expected<std::string_view, std::string> unframe(std::string_view line) {
    auto first_space = line.find(' ');
    if (first_space == std::string_view::npos || first_space == 0)
        return std::unexpected("malformed header (no length)");
    std::size_t length = 0;
    auto [length_end, length_error] =
        std::from_chars(line.data(), line.data() + first_space, length);
    if (length_error != std::errc() || length_end != line.data() + first_space)
        return std::unexpected("malformed header (bad length)");
    std::string_view rest = line.substr(first_space + 1);
    if (rest.size() < 17 || rest[16] != ' ') return std::unexpected("malformed header (checksum)");
    std::uint64_t expected_hash = 0;
    auto [hash_end, hash_error] = std::from_chars(rest.data(), rest.data() + 16, expected_hash, 16);
    if (hash_error != std::errc() || hash_end != rest.data() + 16)
        return std::unexpected("malformed header (checksum)");
    std::string_view payload = rest.substr(17);
    if (payload.size() != length)
        return std::unexpected(
            fmt::format("length mismatch: header says {}, found {} bytes", length, payload.size()));
    if (fnv1a64(payload) != expected_hash) return std::unexpected("checksum mismatch");
    return payload;
}

std::expected<Scan, std::string> scan_records(std::string_view content) {
    Scan scan;
    std::size_t offset = 0;
    std::size_t number = 0;
    while (offset < content.size()) {
        ++number;
        auto newline = content.find('\n', offset);
        bool last = newline == std::string_view::npos || newline + 1 == content.size();
        if (newline == std::string_view::npos) {
            scan.torn = fmt::format("record {} (byte offset {}): incomplete, no end of line",
                                    number, offset);
            return scan;
        }
        auto payload = unframe(content.substr(offset, newline - offset));
        if (!payload) {
            std::string reason =
                fmt::format("record {} (byte offset {}): {}", number, offset, payload.error());
            if (!last) return std::unexpected(reason);
            scan.torn = reason;
            return scan;
        }
        scan.records.push_back(Record{*payload, offset});
        offset = newline + 1;
        scan.valid_bytes = offset;
    }
    return scan;
}

}  // namespace natctl::store
