// Store: durable snapshot + journal, torn and corrupt state, compaction, revisions.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "controller/model/json.hpp"
#include "controller/store/delta.hpp"
#include "controller/store/framing.hpp"
#include "controller/store/store.hpp"
#include "controller/store/text_parts.hpp"
#include "controller/store/typed_delta.hpp"
#include "tests/unit/model_edits.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using natctl::model::DnatEntry;
using natctl::model::DnatProtocol;
using natctl::model::Model;
using natctl::store::Store;
using natctl::store::StoreOptions;
using natctl::testing::TempDir;
using nlohmann::json;

using natctl::testing::dnat;

// A model of the DESIGN.md shape with `entries` DNAT entries on one gateway.
Model sample(std::size_t entries, std::string tag = "a") {
    auto parsed = natctl::model::parse_model(R"({
      "version": 1,
      "vpcs": [{"name": "vpc-prod", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
                "vswitches": [{"name": "vsw-a", "cidr": "10.0.1.0/24"}]}],
      "eips": [{"name": "eip-1", "address": "203.0.113.10"}],
      "nat_gateways": [{"name": "ngw-1", "vpc": "vpc-prod", "outside_interface": "veth-wan",
                        "upstream": "198.51.100.1", "eips": ["eip-1"]}]
    })");
    REQUIRE(parsed.has_value());
    Model model = std::move(*parsed);
    model.vpcs[0].interfaces[0] = "veth-" + tag;
    for (std::size_t i = 0; i < entries; ++i)
        model.nat_gateways[0].dnat_entries.push_back(dnat(i));
    return model;
}

std::unique_ptr<Store> open_ok(const fs::path& dir, StoreOptions options = {}) {
    auto store = Store::open(dir, options);
    INFO((store ? std::string() : store.error()));
    REQUIRE(store.has_value());
    return std::move(*store);
}

std::string open_error(const fs::path& dir, StoreOptions options = {}) {
    auto store = Store::open(dir, options);
    REQUIRE_FALSE(store.has_value());
    return store.error();
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

void spit(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
}

unsigned mode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 0777;
}

}  // namespace

TEST_CASE("store: a new directory opens as revision 0 with an empty model", "[store]") {
    TempDir temp{"store"};
    auto store = open_ok(temp.state());
    CHECK(store->revision() == 0);
    CHECK(store->current() == Model{});
    REQUIRE(store->revisions().size() == 1);
    CHECK(store->revisions()[0].revision == 0);
    CHECK(store->warnings().empty());
    CHECK(mode_of(temp.state()) == 0700);
    CHECK(mode_of(temp.state() / "snapshot.json") == 0600);
    CHECK(mode_of(temp.state() / "journal.log") == 0600);
    store.reset();
    auto again = open_ok(temp.state());
    CHECK(again->revision() == 0);
    CHECK(again->current() == Model{});
}

TEST_CASE("store: a second open of a directory in use is refused", "[store]") {
    TempDir temp{"store"};
    auto store = open_ok(temp.state());
    CHECK_THAT(open_error(temp.state()), Catch::Contains("in use by another process"));
}

TEST_CASE("store: commits survive a reopen with their metadata", "[store]") {
    TempDir temp{"store"};
    std::vector<Model> models = {sample(3, "a"), sample(5, "b"), sample(4, "c"), sample(0, "d")};
    {
        auto store = open_ok(temp.state());
        for (std::size_t i = 0; i < models.size(); ++i) {
            auto revision = store->commit(models[i], "uid 0", fmt::format("change {}", i));
            REQUIRE(revision.has_value());
            CHECK(*revision == i + 1);
            CHECK(store->current() == models[i]);
        }
    }
    auto store = open_ok(temp.state());
    CHECK(store->warnings().empty());
    CHECK(store->revision() == models.size());
    CHECK(store->current() == models.back());
    auto revisions = store->revisions();
    REQUIRE(revisions.size() == models.size() + 1);
    CHECK(revisions.back().revision == models.size());
    CHECK(revisions.back().author == "uid 0");
    CHECK(revisions.back().summary == "change 3");
    CHECK(revisions.back().unix_time > 0);
    for (std::size_t i = 0; i < models.size(); ++i) {
        auto at = store->model_at(i + 1);
        REQUIRE(at.has_value());
        CHECK(*at == models[i]);
    }
    auto empty = store->model_at(0);
    REQUIRE(empty.has_value());
    CHECK(*empty == Model{});
}

TEST_CASE("store: a torn last record is dropped with a warning", "[store]") {
    TempDir temp{"store"};
    Model first = sample(3, "a");
    Model second = sample(4, "b");
    {
        auto store = open_ok(temp.state());
        REQUIRE(store->commit(first, "uid 0", "one"));
        REQUIRE(store->commit(second, "uid 0", "two"));
    }
    fs::path journal = temp.state() / "journal.log";
    std::string content = slurp(journal);
    auto last_start = content.rfind('\n', content.size() - 2) + 1;

    SECTION("cut in the middle of the record") {
        fs::resize_file(journal, last_start + (content.size() - last_start) / 2);
    }
    SECTION("complete line with a damaged payload") {
        content[content.size() - 5] ^= 0x20;
        spit(journal, content);
    }
    SECTION("file extended with zeros by the crash") {
        fs::resize_file(journal, last_start);
        spit(journal, content.substr(0, last_start) + std::string(40, '\0'));
    }
    auto store = open_ok(temp.state());
    CHECK(store->revision() == 1);
    CHECK(store->current() == first);
    REQUIRE(store->warnings().size() == 1);
    CHECK_THAT(store->warnings()[0], Catch::Contains("journal.log") && Catch::Contains("torn"));
    // The torn bytes are gone, so the next append does not land behind garbage.
    CHECK(fs::file_size(journal) == last_start);
    Model third = sample(6, "c");
    auto revision = store->commit(third, "uid 0", "three");
    REQUIRE(revision.has_value());
    CHECK(*revision == 2);
    store.reset();
    auto reopened = open_ok(temp.state());
    CHECK(reopened->revision() == 2);
    CHECK(reopened->current() == third);
    CHECK(reopened->warnings().empty());
}

TEST_CASE("store: a damaged record before the last one stops open", "[store]") {
    TempDir temp{"store"};
    {
        auto store = open_ok(temp.state());
        for (int i = 0; i < 3; ++i)
            REQUIRE(store->commit(sample(2 + i, "x"), "uid 0", "c"));
    }
    fs::path journal = temp.state() / "journal.log";
    std::string content = slurp(journal);
    std::string before = content;
    auto second_start = content.find('\n') + 1;
    content[second_start + 40] ^= 0x01;  // inside record 2's payload
    spit(journal, content);
    std::string error = open_error(temp.state());
    CHECK_THAT(error, Catch::Contains("journal.log") && Catch::Contains("record 2") &&
                          Catch::Contains("checksum mismatch"));
    // Refusing to open must not repair or rewrite anything.
    CHECK(slurp(journal) == content);
    CHECK(content != before);
}

TEST_CASE("store: a bit flip in the snapshot stops open", "[store]") {
    TempDir temp{"store"};
    {
        auto store = open_ok(temp.state(), StoreOptions{.compact_after_records = 2});
        REQUIRE(store->commit(sample(3, "a"), "uid 0", "one"));
        REQUIRE(store->commit(sample(3, "b"), "uid 0", "two"));  // compacts
    }
    fs::path snapshot = temp.state() / "snapshot.json";
    std::string content = slurp(snapshot);
    // Flip one bit inside a name: still valid JSON, only the checksum can tell.
    auto at = content.find("dnat-1");
    REQUIRE(at != std::string::npos);
    content[at + 2] ^= 0x04;
    spit(snapshot, content);
    CHECK_THAT(open_error(temp.state()),
               Catch::Contains("snapshot.json") && Catch::Contains("checksum mismatch"));

    SECTION("a truncated snapshot is refused too, never replaced by an empty one") {
        fs::resize_file(snapshot, 10);
        CHECK_THAT(open_error(temp.state()), Catch::Contains("snapshot.json"));
        CHECK(fs::file_size(snapshot) == 10);
    }
}

TEST_CASE("store: a journal without its snapshot is refused", "[store]") {
    TempDir temp{"store"};
    {
        auto store = open_ok(temp.state());
        REQUIRE(store->commit(sample(3, "a"), "uid 0", "one"));
    }
    fs::remove(temp.state() / "snapshot.json");
    CHECK_THAT(open_error(temp.state()),
               Catch::Contains("snapshot.json") && Catch::Contains("journal.log holds records"));
}

TEST_CASE("store: records that do not chain stop open", "[store]") {
    TempDir temp{"store"};
    {
        auto store = open_ok(temp.state());
        for (int i = 0; i < 3; ++i)
            REQUIRE(store->commit(sample(2 + i, "x"), "uid 0", "c"));
    }
    fs::path journal = temp.state() / "journal.log";
    std::string content = slurp(journal);
    auto first_end = content.find('\n') + 1;
    auto second_end = content.find('\n', first_end) + 1;

    SECTION("a missing revision") {
        spit(journal, content.substr(0, first_end) + content.substr(second_end));
        CHECK_THAT(open_error(temp.state()), Catch::Contains("journal.log: record 2") &&
                                                 Catch::Contains("expected revision 2, found 3"));
    }
    SECTION("a well-framed delta that does not apply") {
        json bad = {
            {"revision", 4},
            {"time", 1},
            {"author", "x"},
            {"summary", "y"},
            {"delta",
             json::array({{{"op", "remove"}, {"path", {"nat_gateways", {{"name", "nope"}}}}}})}};
        spit(journal, content + natctl::store::frame(bad.dump()));
        CHECK_THAT(open_error(temp.state()), Catch::Contains("journal.log: record 4") &&
                                                 Catch::Contains("does not apply") &&
                                                 Catch::Contains("no element named \"nope\""));
    }
}

TEST_CASE("store: compaction writes a snapshot and empties the journal", "[store]") {
    TempDir temp{"store"};
    StoreOptions options{.revisions_kept = 4, .compact_after_records = 3};
    std::vector<Model> models;
    for (int i = 0; i < 7; ++i)
        models.push_back(sample(static_cast<std::size_t>(5 + i), fmt::format("m{}", i)));
    {
        auto store = open_ok(temp.state(), options);
        for (const auto& model : models)
            REQUIRE(store->commit(model, "uid 0", "c"));
        CHECK(store->warnings().empty());
    }
    // 7 commits with compaction every 3 records: snapshot at 6, one record (7) in the journal.
    auto records = natctl::store::scan_records(slurp(temp.state() / "journal.log"));
    REQUIRE(records.has_value());
    CHECK(records->records.size() == 1);
    auto store = open_ok(temp.state(), options);
    CHECK(store->revision() == 7);
    CHECK(store->current() == models.back());
    auto revisions = store->revisions();
    REQUIRE(revisions.size() == 4);
    CHECK(revisions.front().revision == 4);
    for (std::uint64_t r = 4; r <= 7; ++r) {
        auto at = store->model_at(r);
        REQUIRE(at.has_value());
        CHECK(*at == models[r - 1]);
    }
    CHECK_THAT(store->model_at(3).error(), Catch::Contains("not kept"));
}

TEST_CASE("store: a crash between the snapshot's rename and the journal reset", "[store]") {
    TempDir long_journal{"store"};
    TempDir compacted{"store"};
    std::vector<Model> models = {sample(2, "a"), sample(3, "b"), sample(4, "c")};
    {
        auto store = open_ok(long_journal.state());
        for (const auto& model : models)
            REQUIRE(store->commit(model, "uid 0", "c"));
    }
    {
        auto store = open_ok(compacted.state(), StoreOptions{.compact_after_records = 3});
        for (const auto& model : models)
            REQUIRE(store->commit(model, "uid 0", "c"));
    }
    REQUIRE(fs::file_size(compacted.state() / "journal.log") == 0);
    // The state a crash right after the rename leaves: the new snapshot (revision 3) and the
    // journal that still holds records 1 to 3; plus a temporary file from a later attempt.
    fs::copy_file(long_journal.state() / "journal.log", compacted.state() / "journal.log",
                  fs::copy_options::overwrite_existing);
    spit(compacted.state() / "snapshot.json.tmp", "half a snap");

    Model fourth = sample(9, "d");
    {
        auto store = open_ok(compacted.state(), StoreOptions{.compact_after_records = 3});
        CHECK(store->revision() == 3);
        CHECK(store->current() == models.back());
        REQUIRE(store->warnings().size() == 1);
        CHECK_THAT(store->warnings()[0], Catch::Contains("skipped 3 record(s)"));
        CHECK_FALSE(fs::exists(compacted.state() / "snapshot.json.tmp"));
        auto previous = store->model_at(1);
        REQUIRE(previous.has_value());
        CHECK(*previous == models[0]);
        auto revision = store->commit(fourth, "uid 0", "d");  // 4 records: compacts again
        REQUIRE(revision.has_value());
        CHECK(*revision == 4);
    }
    CHECK(fs::file_size(compacted.state() / "journal.log") == 0);
    auto store = open_ok(compacted.state());
    CHECK(store->revision() == 4);
    CHECK(store->current() == fourth);
    CHECK(store->warnings().empty());
}

TEST_CASE("store: a one-entry change in a large model appends a small record", "[store]") {
    TempDir temp{"store"};
    Model big = sample(10000);
    auto store = open_ok(temp.state());
    REQUIRE(store->commit(big, "uid 0", "initial"));
    fs::path journal = temp.state() / "journal.log";

    auto record_size = [&](const Model& next, const char* what) {
        auto before = fs::file_size(journal);
        REQUIRE(store->commit(next, "uid 1000", what));
        auto size = fs::file_size(journal) - before;
        INFO(what << ": " << size << " bytes");
        CHECK(size < 2048);
        return size;
    };
    Model changed = big;
    changed.nat_gateways[0].dnat_entries[5000].private_port = natctl::model::PortRange{9090, 9090};
    record_size(changed, "modify one DNAT entry");
    Model added = changed;
    added.nat_gateways[0].dnat_entries.insert(added.nat_gateways[0].dnat_entries.begin() + 17,
                                              dnat(20000));
    record_size(added, "add one DNAT entry");
    Model removed = added;
    removed.nat_gateways[0].dnat_entries.erase(removed.nat_gateways[0].dnat_entries.begin() + 9000);
    record_size(removed, "remove one DNAT entry");
    Model renamed_gateway_field = removed;
    renamed_gateway_field.nat_gateways[0].icmp_echo_reply = false;
    record_size(renamed_gateway_field, "toggle a gateway field");

    store.reset();
    auto reopened = open_ok(temp.state());
    CHECK(reopened->current() == renamed_gateway_field);
    auto at = reopened->model_at(3);
    REQUIRE(at.has_value());
    CHECK(*at == added);
}

TEST_CASE("store: rolling back commits an older model as a new revision", "[store]") {
    TempDir temp{"store"};
    Model one = sample(3, "one");
    Model two = sample(50, "two");
    Model three = sample(1, "three");
    {
        auto store = open_ok(temp.state());
        REQUIRE(store->commit(one, "uid 0", "one"));
        REQUIRE(store->commit(two, "uid 0", "two"));
        REQUIRE(store->commit(three, "uid 0", "three"));
        auto old = store->model_at(1);
        REQUIRE(old.has_value());
        auto revision = store->commit(*old, "uid 0", "rollback to 1");
        REQUIRE(revision.has_value());
        CHECK(*revision == 4);
        CHECK(store->current() == one);
    }
    auto store = open_ok(temp.state());
    CHECK(store->revision() == 4);
    CHECK(store->current() == one);
    CHECK(store->revisions().back().summary == "rollback to 1");
    auto at = store->model_at(2);
    REQUIRE(at.has_value());
    CHECK(*at == two);
}

TEST_CASE("store: delta by entry name, with inverse", "[store]") {
    using natctl::store::apply;
    using natctl::store::diff;
    json from = natctl::model::to_json(sample(20));
    auto check_round_trip = [](const json& a, const json& b) {
        json delta = diff(a, b);
        json doc = a;
        auto reverse = natctl::store::apply(doc, delta);
        REQUIRE(reverse.has_value());
        CHECK(doc == b);
        auto back = natctl::store::apply(doc, *reverse);
        REQUIRE(back.has_value());
        CHECK(doc == a);
        return delta;
    };

    SECTION("one changed entry is one replace addressed by name") {
        json to = from;
        to["nat_gateways"][0]["dnat_entries"][7]["private_port"] = "9999";
        to["nat_gateways"][0]["dnat_entries"][7]["public_port"] = "999";
        json delta = check_round_trip(from, to);
        REQUIRE(delta.size() == 1);
        CHECK(delta[0]["op"] == "replace");
        CHECK(delta[0]["path"] ==
              json::parse(R"(["nat_gateways",{"name":"ngw-1"},"dnat_entries",{"name":"dnat-7"}])"));
    }
    SECTION("adds and removes keep the order exactly") {
        json to = from;
        auto& entries = to["nat_gateways"][0]["dnat_entries"];
        entries.erase(15);
        entries.erase(3);
        entries.insert(entries.begin() + 4, json{{"name", "new-a"}, {"eip", "eip-1"}});
        entries.push_back(json{{"name", "new-b"}, {"eip", "eip-1"}});
        entries.insert(entries.begin(), json{{"name", "new-c"}, {"eip", "eip-1"}});
        json delta = check_round_trip(from, to);
        CHECK(delta.size() == 5);
    }
    SECTION("reordered, unnamed, duplicated or mostly new arrays are replaced whole") {
        json to = from;
        auto& entries = to["nat_gateways"][0]["dnat_entries"];
        SECTION("reorder") {
            std::swap(entries[2], entries[9]);
        }
        SECTION("duplicate name") {
            entries[4]["name"] = "dnat-5";
        }
        SECTION("mostly new") {
            for (int i = 0; i < 11; ++i)
                entries[static_cast<std::size_t>(i)]["name"] = fmt::format("other-{}", i);
        }
        json delta = check_round_trip(from, to);
        REQUIRE(delta.size() == 1);
        CHECK(delta[0]["path"].back() == "dnat_entries");
    }
    SECTION("members appear and disappear, types change") {
        json to = from;
        to["limits"] = {{"eips_per_nat_gateway", 40}};
        to.erase("eips");
        to["vpcs"][0]["interfaces"] = json::array({"a", "b"});
        to["nat_gateways"][0]["upstream"] = 5;
        check_round_trip(from, to);
        check_round_trip(from, json::array());
    }
    SECTION("a delta that does not fit is refused with the operation") {
        json doc = from;
        auto applied = natctl::store::apply(
            doc, json::parse(R"([{"op":"add","path":["vpcs",{"name":"vpc-prod"},"cidr"],
                                  "value":"x"}])"));
        REQUIRE_FALSE(applied.has_value());
        CHECK_THAT(applied.error(), Catch::Contains("operation 1") &&
                                        Catch::Contains("/vpcs/{name=vpc-prod}/cidr") &&
                                        Catch::Contains("exists already"));
    }
}

namespace {

using natctl::testing::Edits;

std::string dumped(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Peak and current resident set size of this process, from /proc/self/status.
std::string memory_use() {
    std::ifstream in("/proc/self/status");
    std::string line;
    std::string out;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0 || line.rfind("VmRSS:", 0) == 0) {
            if (!out.empty()) out += ", ";
            out += line;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("store: the typed delta of random edits turns one model's JSON into the other's",
          "[store]") {
    Edits edits(20240611);
    for (int round = 0; round < 400; ++round) {
        Model from = edits.model();
        Model to = from;
        for (std::size_t n = 1 + edits.pick(4); n > 0; --n)
            edits.edit(to);
        if (round % 7 == 0) to = edits.model();  // unrelated models too
        INFO("round " << round);
        const json from_doc = natctl::model::to_json(from);
        const json to_doc = natctl::model::to_json(to);

        Model patched = from;
        auto delta = natctl::store::typed_diff(patched, to);
        CHECK(delta.empty() == (from_doc == to_doc));
        json doc = from_doc;
        auto reverse = natctl::store::apply(doc, delta.forward);
        INFO("forward " << delta.forward.dump());
        REQUIRE(reverse.has_value());
        CHECK(doc == to_doc);
        auto back = natctl::store::apply(doc, delta.reverse);
        REQUIRE(back.has_value());
        CHECK(doc == from_doc);
        CHECK(patched == from);  // nothing changes before patch()
        delta.patch();
        CHECK(patched == to);

        CHECK(natctl::store::dump_model(to) == dumped(to_doc));
    }
}

namespace {

// The delta of `from` → `to` written as text (what the store writes) must be the bytes of
// the delta built as JSON trees and dumped (what it wrote before).
void check_text_delta(const Model& from, const Model& to) {
    Model json_from = from;
    Model text_from = from;
    const auto as_json = natctl::store::typed_diff(json_from, to);
    auto as_text = natctl::store::typed_diff(text_from, to, natctl::store::LargeValues::Text);
    CHECK(as_text.forward_text() == dumped(as_json.forward));
    CHECK(as_text.reverse_text() == dumped(as_json.reverse));
    CHECK(as_json.forward_text() == dumped(as_json.forward));
    as_text.patch();
    CHECK(text_from == to);
}

}  // namespace

TEST_CASE("store: deltas and records written as text are the bytes of their JSON trees",
          "[store]") {
    Edits edits(1602);
    for (int round = 0; round < 300; ++round) {
        INFO("round " << round);
        Model from = edits.model();
        Model to = from;
        for (std::size_t n = 1 + edits.pick(4); n > 0; --n)
            edits.edit(to);
        if (round % 5 == 0) to = edits.model();
        check_text_delta(from, to);
        check_text_delta(Model{}, to);
        check_text_delta(to, Model{});
    }
    // Whole arrays of a large model: loaded into an empty store, replaced by another, removed.
    const Model large = sample(20000);
    Model renamed = sample(20000, "b");
    for (auto& entry : renamed.nat_gateways[0].dnat_entries)
        entry.name += "-b";
    renamed.nat_gateways[0].name = "ngw-2";
    check_text_delta(Model{}, large);
    check_text_delta(large, renamed);
    check_text_delta(large, Model{});
    // Names as clients may send them: quotes, backslashes, control characters, non-ASCII,
    // invalid UTF-8.
    Model odd = sample(4);
    odd.nat_gateways[0].dnat_entries[0].name = "q\"b\\s\x01t\tn\u00e9";
    odd.nat_gateways[0].dnat_entries[1].eip = "bad \xff\xfe utf-8";
    odd.nat_gateways[0].dnat_entries[2].protocol = DnatProtocol::Any;
    odd.nat_gateways[0].dnat_entries[2].public_port.reset();
    odd.nat_gateways[0].dnat_entries[2].private_port.reset();
    check_text_delta(Model{}, odd);
    CHECK(natctl::store::dump_model(odd) == dumped(natctl::model::to_json(odd)));

    // A journal record: metadata from clients (quotes, the placeholder's own text, invalid
    // UTF-8) and the delta's text spliced in.
    Model scratch;
    auto delta = natctl::store::typed_diff(scratch, large, natctl::store::LargeValues::Text);
    json record = {{"revision", 2},
                   {"time", 1700000000},
                   {"author", "uid 0 \"delta\":null \xff"},
                   {"summary", "PUT /v1/config"}};
    const std::string spliced = natctl::store::dump_with(record, {{"delta", delta.forward_text()}});
    record["delta"] = json::parse(delta.forward_text());
    CHECK(spliced == dumped(record));
}

TEST_CASE("store: a typed delta is proportional to the change", "[store]") {
    Model from = sample(5000);
    Model to = from;
    auto& entries = to.nat_gateways[0].dnat_entries;
    entries[2500].private_port = natctl::model::PortRange{9090, 9090};
    entries.erase(entries.begin() + 100);
    entries.insert(entries.begin() + 4000, dnat(7000));
    std::rotate(entries.begin() + 10, entries.begin() + 11, entries.begin() + 3000);  // a move
    Model patched = from;
    auto delta = natctl::store::typed_diff(patched, to);
    CHECK(delta.forward.dump().size() < 2048);
    CHECK(delta.reverse.dump().size() < 2048);
    json doc = natctl::model::to_json(from);
    REQUIRE(natctl::store::apply(doc, delta.forward).has_value());
    CHECK(doc == natctl::model::to_json(to));
    delta.patch();
    CHECK(patched == to);
}

TEST_CASE("store: commits of random edits replay to the same models", "[store]") {
    TempDir temp{"store"};
    Edits edits(7);
    std::vector<Model> models{Model{}};
    {
        auto store =
            open_ok(temp.state(), StoreOptions{.revisions_kept = 100, .compact_after_records = 13});
        Model next = edits.model();
        for (int i = 0; i < 60; ++i) {
            edits.edit(next);
            next.version = 1;  // the only version from_json reads back
            REQUIRE(store->commit(next, "uid 0", "edit"));
            models.push_back(next);
            CHECK(store->current() == next);
        }
        CHECK(store->warnings().empty());
    }
    auto store =
        open_ok(temp.state(), StoreOptions{.revisions_kept = 100, .compact_after_records = 13});
    CHECK(store->current() == models.back());
    for (std::uint64_t revision = store->revisions().front().revision;
         revision <= store->revision(); ++revision) {
        auto at = store->model_at(revision);
        REQUIRE(at.has_value());
        CHECK(*at == models[revision]);
    }
}

TEST_CASE("store: a large snapshot is compacted in proportion to its size", "[store]") {
    TempDir temp{"store"};
    const auto journal = temp.state() / "journal.log";
    auto store = open_ok(temp.state(), StoreOptions{.compact_after_records = 3});
    Model model = sample(20000);
    // A record larger than the snapshot (and 1 MiB): compacted at once.
    REQUIRE(store->commit(model, "uid 0", "load"));
    REQUIRE(fs::file_size(journal) == 0);
    REQUIRE(fs::file_size(temp.state() / "snapshot.json") > (std::size_t{1} << 20));

    // Small changes: past compact_after_records, but far from a quarter of the snapshot.
    for (std::size_t i = 0; i < 10; ++i) {
        natctl::model::DnatEntryChange change{0, model.nat_gateways[0].dnat_entries.size(),
                                              std::nullopt, dnat(100000 + i)};
        REQUIRE(store->commit_change(change, "uid 0", "add"));
        natctl::model::apply(model, change);
    }
    const auto records = slurp(journal);
    CHECK(std::count(records.begin(), records.end(), '\n') == 10);  // none compacted away

    // A change as large as a quarter of the snapshot brings the compaction.
    for (auto& entry : model.nat_gateways[0].dnat_entries)
        entry.private_port = natctl::model::PortRange{9090, 9090};
    REQUIRE(store->commit(model, "uid 0", "every entry"));
    CHECK(fs::file_size(journal) == 0);
    store.reset();
    CHECK(open_ok(temp.state())->current() == model);
}

TEST_CASE("store: a whole model loaded is written as a snapshot, not as a record too", "[store]") {
    TempDir temp{"store"};
    const auto journal = temp.state() / "journal.log";
    const auto snapshot = temp.state() / "snapshot.json";
    const StoreOptions options{.revisions_kept = 3, .compact_after_records = 1000};
    std::vector<Model> models = {sample(3, "a"), sample(4, "b"), sample(20000, "c"), sample(5, "d"),
                                 sample(20000, "e")};
    {
        auto store = open_ok(temp.state(), options);
        REQUIRE(store->commit(models[0], "uid 0", "small"));
        REQUIRE(store->commit(models[1], "uid 0", "small"));
        const auto journal_before = slurp(journal);
        REQUIRE(std::count(journal_before.begin(), journal_before.end(), '\n') == 2);
        // Larger than the snapshot and 1 MiB: the snapshot of revision 3, an empty journal.
        REQUIRE(store->commit_moved(Model(models[2]), "uid 0", "load") == 3);
        CHECK(fs::file_size(journal) == 0);
        CHECK(fs::file_size(snapshot) > (std::size_t{1} << 20));
        CHECK(store->warnings().empty());
        REQUIRE(store->commit(models[3], "uid 0", "small again"));
        // Every entry renamed: the gateway's entry list replaced whole.
        Model replaced = models[3];
        replaced.nat_gateways[0].dnat_entries = models[4].nat_gateways[0].dnat_entries;
        for (auto& entry : replaced.nat_gateways[0].dnat_entries)
            entry.name += "-e";
        models[4] = replaced;
        REQUIRE(store->commit(models[4], "uid 1000", "replace") == 5);
        CHECK(fs::file_size(journal) == 0);
        CHECK(store->current() == models[4]);
    }
    // The snapshot is one framed record of the text dump_model gives: what the record and
    // the compaction after it used to write.
    const auto text = slurp(snapshot);
    auto payload = natctl::store::unframe(std::string_view(text).substr(0, text.size() - 1));
    REQUIRE(payload.has_value());
    const json document = json::parse(*payload);
    CHECK(document["revision"] == 5);
    CHECK(document["model"].dump() == natctl::store::dump_model(models[4]));
    REQUIRE(document["history"].size() == 3);
    CHECK_FALSE(document["history"][0].contains("reverse"));

    auto store = open_ok(temp.state(), options);
    CHECK(store->warnings().empty());
    CHECK(store->revision() == 5);
    CHECK(store->current() == models[4]);
    auto revisions = store->revisions();
    REQUIRE(revisions.size() == 3);
    CHECK(revisions.front().revision == 3);
    CHECK(revisions.back().author == "uid 1000");
    for (std::uint64_t r = 3; r <= 5; ++r) {
        auto at = store->model_at(r);
        REQUIRE(at.has_value());
        CHECK(*at == models[r - 1]);
    }
}

TEST_CASE("store: a journal holding a whole-model record, as written before, still loads",
          "[store]") {
    // Before, a whole model was journaled as a record and the compaction after it could
    // fail (or a crash could come first): such a journal must replay as it did.
    TempDir temp{"store"};
    open_ok(temp.state()).reset();  // snapshot.json of revision 0
    const Model large = sample(20000);
    Model changed = large;
    changed.nat_gateways[0].dnat_entries[3].private_port = natctl::model::PortRange{7, 7};
    auto record = [](std::uint64_t revision, const Model& from, const Model& to) {
        Model scratch = from;
        auto delta = natctl::store::typed_diff(scratch, to, natctl::store::LargeValues::Text);
        json info = {{"revision", revision},
                     {"time", 1700000000},
                     {"author", "uid 0"},
                     {"summary", "PUT /v1/config"}};
        return natctl::store::frame(
            natctl::store::dump_with(info, {{"delta", delta.forward_text()}}));
    };
    spit(temp.state() / "journal.log", record(1, Model{}, large) + record(2, large, changed));
    {
        auto store = open_ok(temp.state());
        CHECK(store->warnings().empty());
        CHECK(store->revision() == 2);
        CHECK(store->current() == changed);
        auto first = store->model_at(1);
        REQUIRE(first.has_value());
        CHECK(*first == large);
        // The next whole model: written as the snapshot, the journal emptied.
        REQUIRE(store->commit(sample(20000, "b"), "uid 0", "again") == 3);
        CHECK(fs::file_size(temp.state() / "journal.log") == 0);
    }
    auto store = open_ok(temp.state());
    CHECK(store->current() == sample(20000, "b"));
    auto second = store->model_at(2);
    REQUIRE(second.has_value());
    CHECK(*second == changed);
}

TEST_CASE("store: a snapshot that cannot be written leaves the commit in the journal", "[store]") {
    TempDir temp{"store"};
    const auto journal = temp.state() / "journal.log";
    const Model large = sample(20000);
    {
        auto store = open_ok(temp.state());
        // The temporary snapshot cannot be created: nothing changes on disk but the record.
        fs::create_directory(temp.state() / "snapshot.json.tmp");
        REQUIRE(store->commit(large, "uid 0", "load") == 1);
        REQUIRE(store->warnings().size() == 1);
        CHECK_THAT(store->warnings()[0], Catch::Contains("compaction failed (will retry)"));
        const auto records = slurp(journal);
        CHECK(std::count(records.begin(), records.end(), '\n') == 1);
        CHECK(store->current() == large);
        // Retried at the next commit.
        fs::remove(temp.state() / "snapshot.json.tmp");
        Model next = large;
        next.nat_gateways[0].dnat_entries[7].private_port = natctl::model::PortRange{1, 1};
        REQUIRE(store->commit(next, "uid 0", "one entry") == 2);
        CHECK(fs::file_size(journal) == 0);
    }
    auto store = open_ok(temp.state());
    CHECK(store->revision() == 2);
    auto first = store->model_at(1);
    REQUIRE(first.has_value());
    CHECK(*first == large);
}

TEST_CASE("store: a frame written in parts is the frame of the whole", "[store]") {
    natctl::store::TextParts parts;
    parts.append("{\"a\":");
    const std::string large(100000, 'x');
    parts.append("\"");
    parts.refer(large);
    parts.append("\",\"b\":");
    parts.adopt("[1,2,3]");
    natctl::store::TextParts tail;
    tail.append(",\"c\":");
    tail.adopt("null");
    tail.append("}");
    parts.append(std::move(tail));
    const std::string whole = parts.joined();
    CHECK(whole == "{\"a\":\"" + large + "\",\"b\":[1,2,3],\"c\":null}");
    CHECK(parts.size() == whole.size());
    const auto views = parts.views();
    CHECK(natctl::store::frame_header(views) + whole + "\n" == natctl::store::frame(whole));
    CHECK(natctl::store::framed_size(whole.size()) == natctl::store::frame(whole).size());
}

// Commit cost with 1k and 100k DNAT entries: run with `unit_tests "[store-bench]"`.
TEST_CASE("store: commit time for a one-entry change", "[.][store-bench]") {
    for (std::size_t entries : {std::size_t(1000), std::size_t(100000)}) {
        TempDir temp{"store"};
        auto store = open_ok(temp.state(), StoreOptions{.compact_after_records = 1000000});
        Model model = sample(entries);
        REQUIRE(store->commit(model, "uid 0", "initial"));
        constexpr int rounds = 20;
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < rounds; ++i) {
            model.nat_gateways[0].dnat_entries[entries / 2].private_port = natctl::model::PortRange{
                static_cast<std::uint16_t>(1000 + i), static_cast<std::uint16_t>(1000 + i)};
            REQUIRE(store->commit(model, "uid 0", "bench"));
        }
        auto elapsed =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        auto journal = fs::file_size(temp.state() / "journal.log");
        WARN(fmt::format("{} entries: {:.3f} ms per commit (incl. fdatasync), journal {} bytes; {}",
                         entries, elapsed / rounds, journal, memory_use()));
    }
}
