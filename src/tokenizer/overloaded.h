#pragma once
// std::visit helper: Overloaded{[](const A&) {...}, [](const B&) {...}} dispatches on a variant's type.
namespace moqa::tokenizer {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace moqa::tokenizer
