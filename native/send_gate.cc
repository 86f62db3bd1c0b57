#include "send_gate.h"

#include <mutex>
#include <unordered_map>

namespace wp {
namespace {

std::mutex gates_mu;
std::unordered_map<int, std::weak_ptr<SendGate>>& Gates() {
  static auto* map = new std::unordered_map<int, std::weak_ptr<SendGate>>();
  return *map;
}

}  // namespace

std::shared_ptr<SendGate> OpenSendGate(int fd) {
  auto gate = std::make_shared<SendGate>();
  std::lock_guard<std::mutex> lock(gates_mu);
  Gates()[fd] = gate;
  return gate;
}

std::shared_ptr<SendGate> FindSendGate(int fd) {
  std::lock_guard<std::mutex> lock(gates_mu);
  auto it = Gates().find(fd);
  return it == Gates().end() ? nullptr : it->second.lock();
}

void CloseSendGate(int fd, const std::shared_ptr<SendGate>& gate) {
  if (!gate) return;
  gate->Close();
  std::lock_guard<std::mutex> lock(gates_mu);
  auto it = Gates().find(fd);
  if (it == Gates().end()) return;
  auto current = it->second.lock();
  if (current == nullptr || current == gate) Gates().erase(it);
}

}  // namespace wp
