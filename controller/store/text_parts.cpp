#include "controller/store/text_parts.hpp"

#include <utility>

namespace natctl::store {

std::string_view TextParts::view_of(const Part& part) {
    if (const auto* copied = std::get_if<Copied>(&part)) return copied->text;
    if (const auto* adopted = std::get_if<Adopted>(&part)) return adopted->text;
    return std::get<std::string_view>(part);
}

void TextParts::append(std::string_view text) {
    if (text.empty()) return;
    size_ += text.size();
    if (!parts_.empty())
        if (auto* copied = std::get_if<Copied>(&parts_.back())) {
            copied->text += text;
            return;
        }
    parts_.emplace_back(Copied{std::string(text)});
}

void TextParts::refer(std::string_view text) {
    if (text.empty()) return;
    size_ += text.size();
    parts_.emplace_back(text);
}

void TextParts::refer(const TextParts& other) {
    for (const auto& part : other.parts_)
        refer(view_of(part));
}

void TextParts::adopt(std::string text) {
    if (text.empty()) return;
    size_ += text.size();
    parts_.emplace_back(Adopted{std::move(text)});
}

void TextParts::append(TextParts&& other) {
    for (auto& part : other.parts_) {
        if (auto* copied = std::get_if<Copied>(&part)) {
            append(copied->text);
            continue;
        }
        size_ += view_of(part).size();
        parts_.push_back(std::move(part));
    }
    other.parts_.clear();
    other.size_ = 0;
}

std::vector<std::string_view> TextParts::views() const {
    std::vector<std::string_view> out;
    out.reserve(parts_.size());
    for (const auto& part : parts_)
        out.push_back(view_of(part));
    return out;
}

std::string TextParts::joined() const {
    std::string out;
    out.reserve(size_);
    for (auto view : views())
        out += view;
    return out;
}

}  // namespace natctl::store
