// libFuzzer target: the store's journal reader (controller/store/framing.cpp, store.cpp) —
// what natctld reads at start after a crash, a full disk or an operator's editor. The
// input is the journal file; the snapshot beside it is a fixed, valid revision 0 (the empty
// model), so that records the fuzzer gets right are replayed as deltas against a model.
//
// Oracles: the store either opens or says why; an opened store's history is consecutive and
// ends at its revision, every kept revision can be rebuilt, and reopening it (after its own
// clean-up of a torn record) gives the same model and revision.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "controller/store/store.hpp"
#include "fuzz/check.hpp"

namespace {

namespace fs = std::filesystem;
namespace store = natctl::store;
using natctl::fuzz::check;

const fs::path& state_dir() {
    static const fs::path dir = fs::path(fs::exists("/dev/shm") ? "/dev/shm" : "/tmp") /
                                ("natctl-fuzz-store-" + std::to_string(::getpid()));
    return dir;
}

void write_journal(const std::uint8_t* data, std::size_t size) {
    std::ofstream out(state_dir() / "journal.log", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::error_code ignored;
    fs::remove_all(state_dir(), ignored);
    // A fresh directory gets the revision-0 snapshot of the empty model.
    auto created = store::Store::open(state_dir());
    check(created.has_value(), "an empty state directory does not open");
    std::atexit([] {
        std::error_code error;
        fs::remove_all(state_dir(), error);
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    write_journal(data, size);
    auto opened = store::Store::open(state_dir());
    if (!opened) {
        check(!opened.error().empty(), "a refused journal without a reason");
        return 0;
    }
    const store::Store& first = **opened;
    const auto revisions = first.revisions();
    check(!revisions.empty(), "an open store without history");
    check(revisions.back().revision == first.revision(), "history does not end at revision");
    for (std::size_t i = 1; i < revisions.size(); ++i)
        check(revisions[i].revision == revisions[i - 1].revision + 1, "history has a gap");
    for (const auto& info : revisions) {
        auto rebuilt = first.model_at(info.revision);
        check(rebuilt.has_value(), "a kept revision cannot be rebuilt");
        if (info.revision == first.revision())
            check(*rebuilt == first.current(), "model_at(revision) differs from current");
    }
    const auto model = first.current();
    const auto revision = first.revision();
    opened->reset();  // releases the directory lock
    auto reopened = store::Store::open(state_dir());
    check(reopened.has_value(), "a store that opened once does not open again");
    check((*reopened)->revision() == revision, "reopening changed the revision");
    check((*reopened)->current() == model, "reopening changed the model");
    return 0;
}
