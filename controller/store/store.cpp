// File layout under the state directory (all files 0600, the directory 0700 when created):
//
//   snapshot.json  one framed record (framing.hpp) whose payload is
//                  {"format": 1, "revision": N, "model": MODEL,
//                   "history": [{"revision", "time", "author", "summary", "reverse"?}, ...]}
//                  history is the kept revisions, oldest first, ending with N; "reverse" is
//                  the delta (delta.hpp) from that revision's model to the previous one's, so
//                  any kept revision is rebuilt from the current model without storing
//                  copies of it. The oldest kept revision has no "reverse".
//   journal.log    framed records appended after the snapshot, one per commit:
//                  {"revision", "time", "author", "summary", "delta"} where delta turns the
//                  previous revision's model into this one's. Records at or below the
//                  snapshot's revision are left over from a compaction interrupted between
//                  the snapshot's rename and the journal's truncation, and are skipped.
//
// A commit after which the journal would be compacted anyway (a whole model loaded or
// replaced: its record is larger than the snapshot) writes the new snapshot instead of the
// record, and empties the journal: the model is serialised once, not as a record and then as
// a snapshot, and the files are those the record plus the compaction would have left.
//
// The state directory is flock'ed: two daemons appending to one journal would corrupt it.
#include "controller/store/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "controller/model/change.hpp"
#include "controller/model/json.hpp"
#include "controller/store/delta.hpp"
#include "controller/store/file_io.hpp"
#include "controller/store/framing.hpp"
#include "controller/store/text_parts.hpp"
#include "controller/store/typed_delta.hpp"
#include "util/heap.hpp"

namespace natctl::store {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int snapshot_format = 1;
constexpr const char* snapshot_name = "snapshot.json";
constexpr const char* journal_name = "journal.log";
// Snapshots this large are compacted in proportion to their size (compact_if_due).
constexpr std::size_t kProportionalSnapshotBytes = std::size_t{1} << 20;

// Author and summary come from clients; invalid UTF-8 must not make a commit throw.
std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string show(const model::Errors& errors) {
    if (errors.empty()) return "invalid";
    std::string text = errors.front().path.empty()
                           ? errors.front().reason
                           : fmt::format("{}: {}", errors.front().path, errors.front().reason);
    if (errors.size() > 1) text += fmt::format(" (and {} more)", errors.size() - 1);
    return text;
}

struct Kept {
    RevisionInfo info;
    std::string reverse;  // compact JSON delta to the previous revision; empty for the oldest
};

json info_json(const RevisionInfo& info) {
    json out = json::object();
    out["revision"] = info.revision;
    out["time"] = info.unix_time;
    out["author"] = info.author;
    out["summary"] = info.summary;
    return out;
}

// A journal record's payload, in parts.
TextParts record_payload(const RevisionInfo& info, TextParts delta) {
    std::vector<std::pair<const char*, TextParts>> members;
    members.emplace_back("delta", std::move(delta));
    return dump_with(info_json(info), std::move(members));
}

// Reads the metadata fields shared by journal records and history entries.
std::expected<RevisionInfo, std::string> info_from(const json& object) {
    if (!object.is_object()) return std::unexpected("not a JSON object");
    auto revision = object.find("revision");
    auto time = object.find("time");
    auto author = object.find("author");
    auto summary = object.find("summary");
    if (revision == object.end() || !revision->is_number_unsigned())
        return std::unexpected("missing or malformed \"revision\"");
    if (time == object.end() || !time->is_number_integer())
        return std::unexpected("missing or malformed \"time\"");
    if (author == object.end() || !author->is_string() || summary == object.end() ||
        !summary->is_string())
        return std::unexpected("missing or malformed \"author\" / \"summary\"");
    return RevisionInfo{revision->get<std::uint64_t>(), time->get<std::int64_t>(),
                        author->get<std::string>(), summary->get<std::string>()};
}

class FileStore final : public Store {
  public:
    FileStore(fs::path dir, StoreOptions options)
        : dir_(std::move(dir)),
          snapshot_path_(dir_ / snapshot_name),
          journal_path_(dir_ / journal_name),
          options_(options) {
        // A zero horizon would drop the current revision's own entry.
        if (options_.revisions_kept == 0) options_.revisions_kept = 1;
        if (options_.compact_after_records == 0) options_.compact_after_records = 1;
    }

    Status load();

    const model::Model& current() const override { return current_; }
    std::uint64_t revision() const override { return revision_; }
    std::expected<std::uint64_t, std::string> commit(const model::Model& next,
                                                     const std::string& author,
                                                     const std::string& summary) override;
    std::expected<std::uint64_t, std::string> commit_moved(model::Model&& next,
                                                           const std::string& author,
                                                           const std::string& summary) override;
    std::expected<std::uint64_t, std::string> commit_change(const model::DnatEntryChange& change,
                                                            const std::string& author,
                                                            const std::string& summary) override {
        return commit_entry_change(change, author, summary);
    }
    std::expected<std::uint64_t, std::string> commit_change(const model::SnatEntryChange& change,
                                                            const std::string& author,
                                                            const std::string& summary) override {
        return commit_entry_change(change, author, summary);
    }
    std::expected<std::uint64_t, std::string> commit_without_dnat(
        const model::Model& light_after, const std::string& author,
        const std::string& summary) override;
    std::vector<RevisionInfo> revisions() const override;
    std::expected<model::Model, std::string> model_at(std::uint64_t revision) const override;
    std::vector<std::string> warnings() const override { return warnings_; }

  private:
    // Journals `forward` as the next revision, then makes the change in current_ (`adopt`)
    // and keeps `reverse` for the history.
    template <class Adopt>
    std::expected<std::uint64_t, std::string> commit_record(const json& forward,
                                                            const json& reverse,
                                                            const std::string& author,
                                                            const std::string& summary,
                                                            Adopt adopt);
    template <class Entry>
    std::expected<std::uint64_t, std::string> commit_entry_change(
        const model::GatewayEntryChange<Entry>& change, const std::string& author,
        const std::string& summary);
    Status lock_directory();
    Status create_initial_state();
    std::expected<json, std::string> load_snapshot();
    Status replay_journal(json& model_doc, std::size_t& last_record);
    // Appends and syncs a journal record (of revision_ + 1).
    Status append_record(const TextParts& payload);
    // commit()'s work; `adopt` makes `next` current once its record is durable.
    template <class Adopt>
    std::expected<std::uint64_t, std::string> commit_as(const model::Model& next,
                                                        const std::string& author,
                                                        const std::string& summary, Adopt adopt);
    // Whether a journal of this size calls for a new snapshot.
    bool compaction_due(std::size_t journal_bytes, std::size_t journal_records) const;
    bool compaction_due() const { return compaction_due(journal_bytes_, journal_records_); }
    void compact_if_due();
    Status compact();
    // Empties the journal, durably, once a snapshot holds all of it.
    Status reset_journal();
    // Writes the snapshot of current_ (atomically) and notes its size.
    Status write_snapshot();
    // Writes the snapshot of `model` (its text) as `revision`, whose history is the kept
    // revisions plus `pending` (a commit not yet remembered). `renamed` is set once the
    // rename is attempted: a failure from then on may leave either snapshot on disk.
    Status write_snapshot(std::uint64_t revision, const Kept* pending, TextParts model,
                          bool& renamed);
    // The snapshot written instead of the record that would be compacted right away.
    Status commit_by_snapshot(const model::Model& next, TypedDelta& delta, const Kept& pending);
    TextParts history_parts(const Kept* pending) const;
    void remember(RevisionInfo info, std::string reverse);

    fs::path dir_;
    fs::path snapshot_path_;
    fs::path journal_path_;
    StoreOptions options_;
    UniqueFd lock_;
    UniqueFd journal_;
    std::size_t journal_records_ = 0;  // records in journal.log, skipped ones included
    std::size_t journal_bytes_ = 0;
    std::size_t snapshot_bytes_ = 0;
    model::Model current_;
    std::uint64_t revision_ = 0;
    std::deque<Kept> history_;  // oldest first; back() is revision_
    std::vector<std::string> warnings_;
    // Set when a journal write or sync failed: what reached the disk is then unknown (and
    // after a failed fsync Linux may have dropped the dirty pages), so no further commit may
    // build on it. A restart re-reads the journal and knows.
    std::string broken_;
};

Status FileStore::lock_directory() {
    auto fd = open_file(dir_, O_RDONLY | O_DIRECTORY);
    if (!fd) return std::unexpected(fd.error());
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return std::unexpected(
                fmt::format("state directory {} is in use by another process", dir_.string()));
        return std::unexpected(os_error("flock", dir_));
    }
    lock_ = std::move(*fd);
    return {};
}

void FileStore::remember(RevisionInfo info, std::string reverse) {
    history_.push_back(Kept{std::move(info), std::move(reverse)});
    while (history_.size() > options_.revisions_kept)
        history_.pop_front();
    // Nothing is rebuilt past the oldest kept revision, so its reverse delta is dead weight.
    std::string().swap(history_.front().reverse);
}

TextParts FileStore::history_parts(const Kept* pending) const {
    // Spliced by hand: the kept reverse deltas are already JSON text, and parsing them back
    // into trees only to print them again would cost memory for nothing.
    std::vector<const Kept*> kept;
    for (const auto& entry : history_)
        kept.push_back(&entry);
    if (pending) kept.push_back(pending);
    // As remember() will: the horizon, and no reverse delta for the oldest kept revision.
    const std::size_t first =
        kept.size() > options_.revisions_kept ? kept.size() - options_.revisions_kept : 0;
    TextParts history;
    history.append("[");
    for (std::size_t i = first; i < kept.size(); ++i) {
        if (i > first) history.append(",");
        std::string entry = dump(info_json(kept[i]->info));
        if (i == first || kept[i]->reverse.empty()) {
            history.append(entry);
            continue;
        }
        entry.pop_back();  // the closing brace
        history.append(entry);
        history.append(",\"reverse\":");
        history.refer(kept[i]->reverse);
        history.append("}");
    }
    history.append("]");
    return history;
}

Status FileStore::create_initial_state() {
    std::error_code error;
    if (fs::exists(journal_path_, error) && fs::file_size(journal_path_, error) > 0)
        return std::unexpected(
            fmt::format("{}: missing, but {} holds records; refusing to start from an empty model",
                        snapshot_path_.string(), journal_path_.string()));
    current_ = model::Model{};
    revision_ = 0;
    history_.clear();
    remember(RevisionInfo{0, now(), "natctld", "initial empty state"}, {});
    return write_snapshot();
}

Status FileStore::write_snapshot() {
    bool renamed = false;
    return write_snapshot(revision_, nullptr, dump_model_parts(current_), renamed);
}

Status FileStore::write_snapshot(std::uint64_t revision, const Kept* pending, TextParts model,
                                 bool& renamed) {
    // Written piecewise: no JSON tree of the whole model is built, and its text goes to the
    // file from the parts it was serialised into.
    TextParts payload;
    payload.append(
        fmt::format("{{\"format\":{},\"revision\":{},\"history\":", snapshot_format, revision));
    payload.append(history_parts(pending));
    payload.append(",\"model\":");
    payload.append(std::move(model));
    payload.append("}");
    std::vector<std::string_view> parts = payload.views();
    const std::string header = frame_header(parts);
    parts.insert(parts.begin(), header);
    parts.push_back("\n");
    const auto temporary = temporary_of(snapshot_path_);
    renamed = false;
    if (auto written = write_temporary(temporary, parts); !written) return written;
    renamed = true;
    if (auto moved = rename_durably(temporary, snapshot_path_); !moved) return moved;
    snapshot_bytes_ = header.size() + payload.size() + 1;
    return {};
}

std::expected<json, std::string> FileStore::load_snapshot() {
    const std::string where = snapshot_path_.string();
    auto content = read_file(snapshot_path_);
    if (!content) return std::unexpected(content.error());
    if (content->empty() || content->back() != '\n' || content->find('\n') != content->size() - 1)
        return std::unexpected(where + ": not a single complete record (truncated or damaged)");
    snapshot_bytes_ = content->size();
    auto payload = unframe(std::string_view(*content).substr(0, content->size() - 1));
    if (!payload) return std::unexpected(fmt::format("{}: {}", where, payload.error()));
    json document = json::parse(*payload, nullptr, false);
    if (document.is_discarded() || !document.is_object())
        return std::unexpected(where + ": payload is not a JSON object");
    if (document.value("format", 0) != snapshot_format)
        return std::unexpected(where + ": unknown format (expected " +
                               std::to_string(snapshot_format) + ")");
    auto revision = document.find("revision");
    auto history = document.find("history");
    auto model_it = document.find("model");
    if (revision == document.end() || !revision->is_number_unsigned() ||
        history == document.end() || !history->is_array() || history->empty() ||
        model_it == document.end())
        return std::unexpected(where + ": missing revision, history or model");
    revision_ = revision->get<std::uint64_t>();
    history_.clear();
    for (std::size_t i = 0; i < history->size(); ++i) {
        const json& entry = (*history)[i];
        auto info = info_from(entry);
        if (!info)
            return std::unexpected(fmt::format("{}: history[{}]: {}", where, i, info.error()));
        if (!history_.empty() && info->revision != history_.back().info.revision + 1)
            return std::unexpected(fmt::format("{}: history[{}]: revision {} does not follow {}",
                                               where, i, info->revision,
                                               history_.back().info.revision));
        std::string reverse;
        if (auto found = entry.find("reverse"); found != entry.end()) reverse = dump(*found);
        if (i > 0 && reverse.empty())
            return std::unexpected(fmt::format("{}: history[{}]: missing reverse delta", where, i));
        history_.push_back(Kept{std::move(*info), std::move(reverse)});
    }
    if (history_.back().info.revision != revision_)
        return std::unexpected(fmt::format("{}: history ends at revision {}, snapshot is {}", where,
                                           history_.back().info.revision, revision_));
    while (history_.size() > options_.revisions_kept)
        history_.pop_front();
    std::string().swap(history_.front().reverse);
    return std::move(*model_it);
}

Status FileStore::replay_journal(json& model_doc, std::size_t& last_record) {
    const std::string where = journal_path_.string();
    auto content = read_file(journal_path_);
    if (!content) return std::unexpected(content.error());
    auto scan = scan_records(*content);
    if (!scan) return std::unexpected(fmt::format("{}: {}", where, scan.error()));
    const std::uint64_t snapshot_revision = revision_;
    std::size_t skipped = 0;
    for (std::size_t i = 0; i < scan->records.size(); ++i) {
        const Record& record = scan->records[i];
        auto fail = [&](const std::string& reason) {
            return std::unexpected(fmt::format("{}: record {} (byte offset {}): {}", where, i + 1,
                                               record.offset, reason));
        };
        json parsed = json::parse(record.payload, nullptr, false);
        if (parsed.is_discarded()) return fail("payload is not JSON");
        auto info = info_from(parsed);
        if (!info) return fail(info.error());
        if (info->revision <= snapshot_revision) {
            ++skipped;
            continue;
        }
        if (info->revision != revision_ + 1)
            return fail(fmt::format("revision gap: expected revision {}, found {}", revision_ + 1,
                                    info->revision));
        auto delta = parsed.find("delta");
        if (delta == parsed.end()) return fail("missing delta");
        auto reverse = store::apply(model_doc, *delta);
        if (!reverse)
            return fail(fmt::format("delta of revision {} does not apply: {}", info->revision,
                                    reverse.error()));
        revision_ = info->revision;
        remember(std::move(*info), dump(*reverse));
        last_record = i + 1;
    }
    journal_records_ = scan->records.size();
    journal_bytes_ = scan->valid_bytes;
    if (skipped > 0)
        warnings_.push_back(fmt::format(
            "{}: skipped {} record(s) at or below the snapshot's revision {} (a compaction "
            "was interrupted before the journal was reset)",
            where, skipped, snapshot_revision));
    if (scan->torn) {
        // Appending after the torn bytes would turn them into damage in the middle of the
        // journal at the next open; cut them off first, durably.
        if (::ftruncate(journal_.get(), static_cast<off_t>(scan->valid_bytes)) != 0)
            return std::unexpected(os_error("ftruncate", journal_path_));
        if (auto synced = sync_file(journal_.get(), journal_path_); !synced) return synced;
        warnings_.push_back(fmt::format(
            "{}: dropped a torn last record, never acknowledged ({}); state is revision {}", where,
            *scan->torn, revision_));
    }
    return {};
}

Status FileStore::load() {
    std::error_code error;
    if (!fs::exists(dir_, error)) {
        if (dir_.has_parent_path()) fs::create_directories(dir_.parent_path(), error);
        if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
            return std::unexpected(os_error("mkdir", dir_));
        if (auto synced = sync_directory(dir_.has_parent_path() ? dir_.parent_path() : ".");
            !synced)
            return synced;
    }
    if (auto locked = lock_directory(); !locked) return locked;
    // A leftover of a crash before the snapshot's rename: the old snapshot is still whole.
    fs::remove(temporary_of(snapshot_path_), error);

    if (!fs::exists(snapshot_path_, error)) {
        if (auto created = create_initial_state(); !created) return created;
    }
    auto model_doc = load_snapshot();
    if (!model_doc) return std::unexpected(model_doc.error());

    bool journal_existed = fs::exists(journal_path_, error);
    auto journal = open_file(journal_path_, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (!journal) return std::unexpected(journal.error());
    journal_ = std::move(*journal);
    if (!journal_existed) {
        if (auto synced = sync_directory(dir_); !synced) return synced;
    }
    std::size_t last_record = 0;
    if (auto replayed = replay_journal(*model_doc, last_record); !replayed) return replayed;

    auto parsed = model::from_json(*model_doc);
    if (!parsed) {
        if (last_record == 0)
            return std::unexpected(
                fmt::format("{}: model: {}", snapshot_path_.string(), show(parsed.error())));
        return std::unexpected(
            fmt::format("{}: the model after record {} (revision {}) is "
                        "not a valid model: {}",
                        journal_path_.string(), last_record, revision_, show(parsed.error())));
    }
    current_ = std::move(*parsed);
    return {};
}

std::expected<std::uint64_t, std::string> FileStore::commit(const model::Model& next,
                                                            const std::string& author,
                                                            const std::string& summary) {
    return commit_as(next, author, summary, [&](TypedDelta& delta) {
        delta.patch();
        assert(current_ == next);
    });
}

std::expected<std::uint64_t, std::string> FileStore::commit_moved(model::Model&& next,
                                                                  const std::string& author,
                                                                  const std::string& summary) {
    return commit_as(next, author, summary, [&](TypedDelta&) { current_ = std::move(next); });
}

template <class Adopt>
std::expected<std::uint64_t, std::string> FileStore::commit_as(const model::Model& next,
                                                               const std::string& author,
                                                               const std::string& summary,
                                                               Adopt adopt) {
    if (!broken_.empty()) return std::unexpected(broken_);
    // Computed from the typed models: one comparison pass plus work proportional to the
    // change; neither model is serialised whole, and a whole array (a model loaded from
    // scratch) is written as text without a tree. current_ is only read until patch().
    TypedDelta delta = typed_diff(current_, next, LargeValues::Text);
    Kept pending{RevisionInfo{revision_ + 1, now(), author, summary}, delta.reverse_text()};
    std::optional<TextParts> record = record_payload(pending.info, delta.forward_parts());
    if (compaction_due(journal_bytes_ + framed_size(record->size()), journal_records_ + 1)) {
        record.reset();  // it refers to the delta's texts, which the snapshot takes
        auto written = commit_by_snapshot(next, delta, pending);
        if (written || !broken_.empty()) {
            if (!written) return std::unexpected(written.error());
            adopt(delta);
            remember(std::move(pending.info), std::move(pending.reverse));
            return revision_;
        }
        // Nothing changed on disk: journal the commit as usual, the compaction comes later.
        warnings_.push_back("compaction failed (will retry): " + written.error());
        delta = typed_diff(current_, next, LargeValues::Text);
        record = record_payload(pending.info, delta.forward_parts());
    }
    if (auto appended = append_record(*record); !appended) return std::unexpected(appended.error());
    record.reset();
    revision_ = pending.info.revision;
    adopt(delta);
    remember(std::move(pending.info), std::move(pending.reverse));
    // No compaction now: it was not due with this record, or its snapshot just failed (then
    // the next commit retries it).
    return revision_;
}

Status FileStore::commit_by_snapshot(const model::Model& next, TypedDelta& delta,
                                     const Kept& pending) {
    bool renamed = false;
    // The delta's texts of next's whole arrays (all of them when the model was empty) are
    // the snapshot's: the model is serialised once.
    auto written = write_snapshot(pending.info.revision, &pending,
                                  dump_model_parts(next, delta.take_forward_arrays()), renamed);
    if (!written) {
        if (renamed)
            broken_ = fmt::format("{}; no further change is accepted until natctld restarts",
                                  written.error());
        return written;
    }
    revision_ = pending.info.revision;
    // The commit is durable; what the journal holds is at or below the snapshot's revision.
    if (auto reset = reset_journal(); !reset)
        warnings_.push_back("emptying the journal after a snapshot failed: " + reset.error());
    util::release_heap_after(snapshot_bytes_);
    return {};
}

template <class Entry>
std::expected<std::uint64_t, std::string> FileStore::commit_entry_change(
    const model::GatewayEntryChange<Entry>& change, const std::string& author,
    const std::string& summary) {
    if (!broken_.empty()) return std::unexpected(broken_);
    const auto& entries = model::entries_of<Entry>(current_.nat_gateways.at(change.gateway));
    if (change.position > entries.size() || (change.before && change.position == entries.size()))
        return std::unexpected(fmt::format("{} position {} is outside nat_gateways[{}]",
                                           model::EntryList<Entry>::name, change.position,
                                           change.gateway));
    // model::to_json leaves empty lists out, so the first entry creates the list and the
    // last one removes it.
    const json list_path =
        json::array({"nat_gateways", change.gateway, model::EntryList<Entry>::name});
    json entry_path = list_path;
    entry_path.push_back(change.position);
    auto op = [](const char* kind, const json& path, std::optional<json> value = std::nullopt) {
        json out = {{"op", kind}, {"path", path}};
        if (value) out["value"] = std::move(*value);
        return out;
    };
    json forward = json::array();
    json reverse = json::array();
    if (change.before && change.after) {
        forward.push_back(op("replace", entry_path, to_json(*change.after)));
        reverse.push_back(op("replace", entry_path, to_json(*change.before)));
    } else if (change.after && entries.empty()) {
        forward.push_back(op("add", list_path, json::array({to_json(*change.after)})));
        reverse.push_back(op("remove", list_path));
    } else if (change.after) {
        forward.push_back(op("add", entry_path, to_json(*change.after)));
        reverse.push_back(op("remove", entry_path));
    } else if (change.before && entries.size() == 1) {
        forward.push_back(op("remove", list_path));
        reverse.push_back(op("add", list_path, json::array({to_json(*change.before)})));
    } else if (change.before) {
        forward.push_back(op("remove", entry_path));
        reverse.push_back(op("add", entry_path, to_json(*change.before)));
    }
    return commit_record(forward, reverse, author, summary,
                         [&](model::Model& current) { model::apply(current, change); });
}

template <class Adopt>
std::expected<std::uint64_t, std::string> FileStore::commit_record(const json& forward,
                                                                   const json& reverse,
                                                                   const std::string& author,
                                                                   const std::string& summary,
                                                                   Adopt adopt) {
    RevisionInfo info{revision_ + 1, now(), author, summary};
    TextParts delta;
    delta.adopt(dump(forward));
    if (auto appended = append_record(record_payload(info, std::move(delta))); !appended)
        return std::unexpected(appended.error());
    revision_ = info.revision;
    adopt(current_);
    remember(std::move(info), dump(reverse));
    compact_if_due();
    return revision_;
}

namespace {

// Operations that turn `from` into `to`, the JSON forms of two models without DNAT entries
// whose NAT gateways match by position, addressing each top-level member and each member of
// each gateway on its own: applied to the whole model they leave its DNAT entry lists alone
// (a diff of the whole documents may replace a gateway or the gateway array whole).
json diff_without_dnat(const json& from, const json& to) {
    json ops = json::array();
    auto members = [&](const json& a, const json& b, const json& prefix, const char* skip) {
        auto at = [&](const std::string& key) {
            json path = prefix;
            path.push_back(key);
            return path;
        };
        for (const auto& [key, value] : a.items()) {
            if (key == skip) continue;
            auto other = b.find(key);
            if (other == b.end()) {
                ops.push_back({{"op", "remove"}, {"path", at(key)}});
                continue;
            }
            for (auto op : diff(value, *other)) {
                json path = at(key);
                for (auto& segment : op["path"])
                    path.push_back(std::move(segment));
                op["path"] = std::move(path);
                ops.push_back(std::move(op));
            }
        }
        for (const auto& [key, value] : b.items())
            if (key != skip && !a.contains(key))
                ops.push_back({{"op", "add"}, {"path", at(key)}, {"value", value}});
    };
    members(from, to, json::array(), "nat_gateways");
    const auto& before = from.contains("nat_gateways") ? from["nat_gateways"] : json::array();
    const auto& after = to.contains("nat_gateways") ? to["nat_gateways"] : json::array();
    for (std::size_t g = 0; g < before.size() && g < after.size(); ++g)
        members(before[g], after[g], json::array({"nat_gateways", g}), "dnat_entries");
    return ops;
}

}  // namespace

std::expected<std::uint64_t, std::string> FileStore::commit_without_dnat(
    const model::Model& light_after, const std::string& author, const std::string& summary) {
    if (!broken_.empty()) return std::unexpected(broken_);
    if (light_after.nat_gateways.size() != current_.nat_gateways.size())
        return std::unexpected("a change without DNAT entries keeps the NAT gateways");
    const json before = to_json(model::without_dnat_entries(current_));
    const json after = to_json(light_after);
    return commit_record(
        diff_without_dnat(before, after), diff_without_dnat(after, before), author, summary,
        [&](model::Model& current) { model::adopt_without_dnat_entries(current, light_after); });
}

Status FileStore::append_record(const TextParts& payload) {
    std::vector<std::string_view> line = payload.views();
    const std::string header = frame_header(line);
    line.insert(line.begin(), header);
    line.push_back("\n");
    auto written = write_all(journal_.get(), line, journal_path_);
    if (written) written = sync_file(journal_.get(), journal_path_);
    if (!written) {
        // Best effort: without the partial record the journal stays replayable as it was.
        [[maybe_unused]] int ignored =
            ::ftruncate(journal_.get(), static_cast<off_t>(journal_bytes_));
        broken_ = fmt::format("{}; no further change is accepted until natctld restarts",
                              written.error());
        return std::unexpected(written.error());
    }
    journal_bytes_ += framed_size(payload.size());
    ++journal_records_;
    return {};
}

bool FileStore::compaction_due(std::size_t journal_bytes, std::size_t journal_records) const {
    // A snapshot costs time in proportion to the model (100k entries: 12 MB written and
    // fsync'd, ~260 ms on the API's thread), so for large ones the journal must have grown
    // in proportion too: that keeps the cost a constant share of each change's own bytes,
    // and start-up replays at most about that much.
    if (journal_bytes >= kProportionalSnapshotBytes && journal_bytes >= snapshot_bytes_)
        return true;  // e.g. a 100k-entry model just written whole: now, not 999 writes later
    if (journal_records < options_.compact_after_records) return false;
    return snapshot_bytes_ < kProportionalSnapshotBytes || journal_bytes * 4 >= snapshot_bytes_;
}

void FileStore::compact_if_due() {
    if (!compaction_due()) return;
    // The commit is durable already; a failed compaction only leaves a longer journal.
    if (auto compacted = compact(); !compacted)
        warnings_.push_back("compaction failed (will retry): " + compacted.error());
}

Status FileStore::compact() {
    // Order matters: the snapshot (carrying its revision) is durable under its final name
    // before the journal is cut, so a crash in between leaves records the snapshot already
    // holds, which open() skips.
    if (auto written = write_snapshot(); !written) return written;
    if (auto reset = reset_journal(); !reset) return reset;
    // The snapshot's text (the whole model, 12 MB at 100k entries) is freed by now; give its
    // pages back, or they stay resident between live objects until the next compaction.
    util::release_heap_after(snapshot_bytes_);
    return {};
}

Status FileStore::reset_journal() {
    if (::ftruncate(journal_.get(), 0) != 0) {
        broken_ = os_error("ftruncate", journal_path_);
        return std::unexpected(broken_);
    }
    if (auto synced = sync_file(journal_.get(), journal_path_); !synced) {
        broken_ = synced.error();
        return synced;
    }
    journal_records_ = 0;
    journal_bytes_ = 0;
    return {};
}

std::vector<RevisionInfo> FileStore::revisions() const {
    std::vector<RevisionInfo> out;
    out.reserve(history_.size());
    for (const auto& kept : history_)
        out.push_back(kept.info);
    return out;
}

std::expected<model::Model, std::string> FileStore::model_at(std::uint64_t revision) const {
    if (revision == revision_) return current_;
    if (revision > revision_ || revision < history_.front().info.revision)
        return std::unexpected(fmt::format("revision {} is not kept (kept: {} to {})", revision,
                                           history_.front().info.revision, revision_));
    json doc = model::to_json(current_);
    for (auto kept = history_.rbegin(); kept->info.revision > revision; ++kept) {
        json reverse = json::parse(kept->reverse, nullptr, false);
        auto applied = store::apply(doc, reverse);
        if (!applied)
            return std::unexpected(fmt::format("rebuilding revision {}: undoing revision {}: {}",
                                               revision, kept->info.revision, applied.error()));
    }
    auto parsed = model::from_json(doc);
    if (!parsed)
        return std::unexpected(
            fmt::format("rebuilding revision {}: {}", revision, show(parsed.error())));
    return std::move(*parsed);
}

}  // namespace

namespace {
template <class Entry>
std::expected<std::uint64_t, std::string> commit_copy(
    Store& store, const model::GatewayEntryChange<Entry>& change, const std::string& author,
    const std::string& summary) {
    model::Model next = store.current();
    model::apply(next, change);
    return store.commit(next, author, summary);
}
}  // namespace

std::expected<std::uint64_t, std::string> Store::commit_change(const model::DnatEntryChange& change,
                                                               const std::string& author,
                                                               const std::string& summary) {
    return commit_copy(*this, change, author, summary);
}

std::expected<std::uint64_t, std::string> Store::commit_change(const model::SnatEntryChange& change,
                                                               const std::string& author,
                                                               const std::string& summary) {
    return commit_copy(*this, change, author, summary);
}

std::expected<std::uint64_t, std::string> Store::commit_without_dnat(
    const model::Model& light_after, const std::string& author, const std::string& summary) {
    model::Model next = current();
    model::adopt_without_dnat_entries(next, light_after);
    return commit(next, author, summary);
}

std::expected<std::uint64_t, std::string> Store::commit_moved(model::Model&& next,
                                                              const std::string& author,
                                                              const std::string& summary) {
    return commit(next, author, summary);
}

std::expected<std::unique_ptr<Store>, std::string> Store::open(const std::filesystem::path& dir,
                                                               StoreOptions options) {
    auto store = std::make_unique<FileStore>(dir, options);
    if (auto loaded = store->load(); !loaded) return std::unexpected(loaded.error());
    return store;
}

}  // namespace natctl::store
