// The engine's write path (controller/engine/writer.hpp) without HTTP: what reaches the
// kernel and the store, and in which order, for each outcome of a write.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "controller/engine/writer.hpp"
#include "controller/model/validate.hpp"
#include "tests/support/memory_store.hpp"
#include "tests/unit/source_file.hpp"

namespace {

namespace engine = natctl::engine;
namespace model = natctl::model;
namespace util = natctl::util;
using natctl::testing::MemoryStore;

model::Model design_model() {
    auto loaded =
        model::load_model(natctl::testing::source_file("tests/data/model/design-example.json"));
    REQUIRE(loaded.has_value());
    return *loaded;
}

// Records every call in order ("apply", "apply_change", "plan", "committed 2"); each kind of
// call can be told to fail with a given error.
class RecordingPlane : public engine::DataPlane {
  public:
    std::expected<engine::KernelChange, util::Error> apply(const model::Model& model) override {
        calls.push_back("apply");
        applied.push_back(model);
        if (fail_applies > 0) {
            --fail_applies;
            return std::unexpected(apply_error);
        }
        return engine::KernelChange{true, {{"elements_added", 1}}};
    }
    std::expected<engine::KernelChange, util::Error> apply_change(
        const model::Model&, const model::DnatEntryChange&,
        const model::DnatChangeIndex&) override {
        calls.push_back("apply_change");
        return engine::KernelChange{true, {{"elements_added", 1}}};
    }
    std::expected<engine::KernelChange, util::Error> plan(const model::Model&) override {
        calls.push_back("plan");
        return engine::KernelChange{true, {{"elements_added", 2}}};
    }
    void committed(std::uint64_t revision) override {
        calls.push_back(fmt::format("committed {}", revision));
    }
    void repair_soon(std::string reason) override { calls.push_back("repair_soon: " + reason); }
    nlohmann::json status() override { return nlohmann::json::object(); }

    std::vector<std::string> calls;
    std::vector<model::Model> applied;
    int fail_applies = 0;
    util::Error apply_error{util::ErrorKind::KernelRefused, "nat_gateways[0]",
                            "EEXIST (File exists)"};
};

struct Fixture {
    MemoryStore store{design_model()};
    RecordingPlane plane;
    engine::Writer writer{store, plane};

    engine::WriteOptions options(bool dry_run = false) {
        return {dry_run, "uid 0", "test write", {}};
    }
    // The stored model with one change to ngw-1's own fields.
    model::Model changed_gateway() {
        model::Model next = store.current();
        next.nat_gateways.at(0).deletion_protection = true;
        return next;
    }
    void require_nothing_stored() {
        CHECK(store.revision() == 1);
        CHECK(store.current() == design_model());
    }
};

// One new DNAT entry on ngw-1, made against the stored model.
model::DnatEntryChange new_dnat_entry(const model::Model& current) {
    const auto& entries = current.nat_gateways.at(0).dnat_entries;
    model::DnatEntry entry = entries.at(0);
    entry.name = "web-2";
    entry.public_port = model::PortRange{81, 81};
    return {0, entries.size(), std::nullopt, entry};
}

}  // namespace

TEST_CASE("a write is validated before anything reaches the kernel or the store", "[engine]") {
    Fixture f;
    model::Model next = f.store.current();
    next.nat_gateways.at(0).eips.push_back("eip-missing");
    auto outcome = f.writer.write(std::move(next), f.options());
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().kind == util::ErrorKind::Invalid);
    REQUIRE_FALSE(outcome.error().errors.empty());
    CHECK(outcome.error().errors.front().path.starts_with("nat_gateways[0].eips"));
    CHECK(f.plane.calls.empty());
    f.require_nothing_stored();
}

TEST_CASE("an unchanged model is no new revision and leaves the kernel alone", "[engine]") {
    Fixture f;
    auto outcome = f.writer.write(f.store.current(), f.options());
    REQUIRE(outcome.has_value());
    CHECK_FALSE(outcome->changed);
    CHECK_FALSE(outcome->committed);
    CHECK_FALSE(outcome->kernel.has_value());
    CHECK(outcome->revision == 1);
    CHECK(outcome->plan.empty());
    f.writer.answered();
    CHECK(f.plane.calls.empty());
}

TEST_CASE("a dry run plans the kernel change and stores nothing", "[engine]") {
    Fixture f;
    auto outcome = f.writer.write(f.changed_gateway(), f.options(true));
    REQUIRE(outcome.has_value());
    CHECK(outcome->changed);
    CHECK_FALSE(outcome->committed);
    REQUIRE(outcome->kernel.has_value());
    CHECK(outcome->kernel->summary.at("elements_added") == 2);
    REQUIRE(outcome->plan.changed.size() == 1);
    CHECK(outcome->plan.changed.front().name == "ngw-1");
    f.writer.answered();
    CHECK(f.plane.calls == std::vector<std::string>{"plan"});
    f.require_nothing_stored();
}

TEST_CASE("a write is applied, then committed; the data plane hears of it once answered",
          "[engine]") {
    Fixture f;
    engine::WriteOptions options = f.options();
    options.notes = {"a side effect"};
    auto outcome = f.writer.write(f.changed_gateway(), options);
    REQUIRE(outcome.has_value());
    CHECK(outcome->committed);
    CHECK(outcome->revision == 2);
    CHECK(outcome->plan.notes == std::vector<std::string>{"a side effect"});
    CHECK(f.store.revision() == 2);
    CHECK(f.store.revisions().back().author == "uid 0");
    CHECK(f.store.revisions().back().summary == "test write");
    CHECK(f.plane.calls == std::vector<std::string>{"apply"});
    f.writer.answered();
    f.writer.answered();
    CHECK(f.plane.calls == std::vector<std::string>{"apply", "committed 2"});
}

TEST_CASE("a change the kernel refuses is not stored, and the error keeps its kind and path",
          "[engine]") {
    Fixture f;
    f.plane.fail_applies = 1;
    auto outcome = f.writer.write(f.changed_gateway(), f.options());
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().kind == util::ErrorKind::KernelRefused);
    REQUIRE(outcome.error().errors.size() == 1);
    CHECK(outcome.error().errors.front().path == "nat_gateways[0]");
    CHECK(outcome.error().errors.front().reason ==
          "the kernel refused the change: EEXIST (File exists); nothing was stored");
    f.writer.answered();
    CHECK(f.plane.calls == std::vector<std::string>{"apply"});
    f.require_nothing_stored();
}

TEST_CASE("an unknown kernel outcome says which revision the kernel is brought back to",
          "[engine]") {
    Fixture f;
    f.plane.fail_applies = 1;
    f.plane.apply_error = {util::ErrorKind::OutcomeUnknown, "", "no answer to the batch"};
    auto outcome = f.writer.write(f.changed_gateway(), f.options());
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().kind == util::ErrorKind::OutcomeUnknown);
    CHECK_THAT(outcome.error().errors.front().reason,
               Catch::Contains("natctld brings the kernel back to revision 1"));
    f.require_nothing_stored();
}

TEST_CASE("a failed commit puts the kernel back to the stored revision", "[engine]") {
    Fixture f;
    f.store.fail_commit = true;
    auto outcome = f.writer.write(f.changed_gateway(), f.options());
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().kind == util::ErrorKind::Internal);
    CHECK(outcome.error().errors.front().reason ==
          "storing the change failed: disk full; the kernel was put back to revision 1");
    REQUIRE(f.plane.applied.size() == 2);
    CHECK(f.plane.applied.back() == design_model());
    f.writer.answered();
    CHECK(f.plane.calls == std::vector<std::string>{"apply", "apply", "committed 1"});
    f.require_nothing_stored();
}

TEST_CASE("a failed commit whose put-back fails too says both", "[engine]") {
    // The change goes through; putting the kernel back does not.
    struct PutBackFails : RecordingPlane {
        std::expected<engine::KernelChange, util::Error> apply(const model::Model& model) override {
            fail_applies = applied.empty() ? 0 : 1;
            return RecordingPlane::apply(model);
        }
    };
    MemoryStore store{design_model()};
    store.fail_commit = true;
    PutBackFails plane;
    engine::Writer writer{store, plane};
    model::Model next = store.current();
    next.nat_gateways.at(0).deletion_protection = true;
    auto outcome = writer.write(std::move(next), {false, "uid 0", "test write", {}});
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().kind == util::ErrorKind::Internal);
    const std::string reason =
        "storing the change failed: disk full; putting the kernel back to revision 1 failed "
        "too: nat_gateways[0]: EEXIST (File exists); natctld reconciles the kernel with "
        "revision 1";
    CHECK(outcome.error().errors.front().reason == reason);
    writer.answered();
    // The kernel runs the unstored change: nothing is announced as committed, and the data
    // plane is told to bring the kernel back to the stored revision.
    CHECK(plane.calls == std::vector<std::string>{"apply", "apply", "repair_soon: " + reason});
    CHECK(store.revision() == 1);
}

TEST_CASE("one DNAT entry change is written in O(change) and reported to the observer",
          "[engine]") {
    Fixture f;
    std::vector<std::uint64_t> observed;
    f.writer.set_change_observer([&](const model::DnatEntryChange*, std::uint64_t revision) {
        observed.push_back(revision);
    });
    const auto change = new_dnat_entry(f.store.current());

    SECTION("committed without a whole-model apply") {
        auto outcome = f.writer.write_change(change, f.options());
        REQUIRE(outcome.has_value());
        REQUIRE(outcome->has_value());
        CHECK((*outcome)->committed);
        CHECK((*outcome)->revision == 2);
        REQUIRE((*outcome)->plan.added.size() == 1);
        CHECK((*outcome)->plan.added.front().path == "nat_gateways[0].dnat_entries[3]");
        CHECK(observed == std::vector<std::uint64_t>{2});
        CHECK(f.store.current().nat_gateways.at(0).dnat_entries.back().name == "web-2");
        f.writer.answered();
        CHECK(f.plane.calls == std::vector<std::string>{"apply_change", "committed 2"});
    }
    SECTION("a dry run is left to write()") {
        CHECK_FALSE(f.writer.write_change(change, f.options(true)).has_value());
        CHECK(f.plane.calls.empty());
    }
    SECTION("an entry that is not certainly valid is left to write()") {
        auto taken = change;
        taken.after->name = "web";  // the name of an existing entry
        CHECK_FALSE(f.writer.write_change(taken, f.options()).has_value());
        CHECK(f.plane.calls.empty());
        CHECK(observed.empty());
    }
    SECTION("an unchanged entry is answered unchanged") {
        const auto& entries = f.store.current().nat_gateways.at(0).dnat_entries;
        model::DnatEntryChange same{0, 0, entries.at(0), entries.at(0)};
        auto outcome = f.writer.write_change(same, f.options());
        REQUIRE(outcome.has_value());
        REQUIRE(outcome->has_value());
        CHECK_FALSE((*outcome)->changed);
        CHECK_FALSE((*outcome)->committed);
        CHECK(f.plane.calls.empty());
    }
}
