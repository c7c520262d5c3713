// A text held as parts that, concatenated in order, are the text. A whole-model document (a
// snapshot, a journal record that loads a model) is a few large serialised arrays between
// small fragments of JSON: kept as parts, the large pieces stay in the strings they were
// serialised into and go to the file from there, instead of being copied into one string
// (at 100k DNAT entries each copy was 12 MB).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace natctl::store {

class TextParts {
  public:
    // Copied: small fragments (merged with the previous copied fragment).
    void append(std::string_view text);
    // Referenced, not copied: `text` must outlive every use of views().
    void refer(std::string_view text);
    // Moved in: a large piece serialised for this text.
    void adopt(std::string text);
    // Every part of `other` referenced, as refer() does.
    void refer(const TextParts& other);
    void append(TextParts&& other);

    // The parts in order; valid until this TextParts changes or goes.
    std::vector<std::string_view> views() const;
    std::size_t size() const { return size_; }
    std::string joined() const;

  private:
    struct Copied {
        std::string text;
    };
    struct Adopted {
        std::string text;
    };
    using Part = std::variant<Copied, Adopted, std::string_view>;
    static std::string_view view_of(const Part& part);

    std::vector<Part> parts_;
    std::size_t size_ = 0;
};

}  // namespace natctl::store
