// The gdb stub's commands against a real hart, over an in-memory transport: register numbering
// and the target description, memory through the current translation (without side effects),
// breakpoints, single steps (interpreter and JIT), and precise errors for malformed commands.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <string>

#include "hart_test_support.hpp"
#include "machine/gdb/packet.hpp"
#include "machine/gdb/registers.hpp"
#include "machine/gdb/stub.hpp"

namespace nimbus::test {
namespace {

using machine::gdb::Resume;
using machine::gdb::StopReason;

class FakeTransport final : public machine::gdb::Transport {
public:
  std::deque<std::string> incoming;
  std::string sent;
  bool connected_ = true;
  bool hang_up = false; // the next receive sees the debugger gone
  bool connected(std::chrono::milliseconds) override { return connected_; }
  long receive(uint8_t* buffer, size_t cap, std::chrono::milliseconds) override {
    if (hang_up) connected_ = false;
    if (!connected_) return -1;
    if (incoming.empty()) return 0;
    std::string& front = incoming.front();
    const size_t n = std::min(cap, front.size());
    std::memcpy(buffer, front.data(), n);
    front.erase(0, n);
    if (front.empty()) incoming.pop_front();
    return static_cast<long>(n);
  }
  void send(std::string_view bytes) override { sent += bytes; }
  void disconnect() override { connected_ = false; }
};

class GdbStubTest : public HartTest {
protected:
  FakeTransport transport;
  machine::gdb::Stub stub{transport, {&hart}};

  // Sends one command (acknowledging nothing: no-ack mode) and returns the payload of the reply.
  std::string ask(const std::string& command) {
    transport.sent.clear();
    transport.incoming.push_back(machine::gdb::encode_packet(command));
    last_resume = stub.serve(StopReason::attached, 0);
    return reply_payload();
  }
  std::string reply_payload() {
    const size_t start = transport.sent.find('$');
    const size_t end = transport.sent.rfind('#');
    if (start == std::string::npos || end == std::string::npos || end < start) return "<no reply>";
    return transport.sent.substr(start + 1, end - start - 1);
  }
  void SetUp() override {
    HartTest::SetUp();
    transport.incoming.push_back(machine::gdb::encode_packet("QStartNoAckMode"));
    stub.serve(StopReason::attached, 0);
    EXPECT_EQ(transport.sent, "+$OK#9a");
  }
  // What Machine::run does between a continue and the next stop, for one hart.
  void run_to_breakpoint() {
    for (int i = 0; i < 1000 && !hart.stopped_at_breakpoint(); ++i) hart.run(64);
    ASSERT_TRUE(hart.stopped_at_breakpoint());
  }
  Resume last_resume;
};

TEST_F(GdbStubTest, SupportedFeaturesAndTheTargetDescription) {
  const std::string supported = ask("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+");
  EXPECT_NE(supported.find("PacketSize=4000"), std::string::npos);
  EXPECT_NE(supported.find("qXfer:features:read+"), std::string::npos);
  // Read the description in small pieces, as gdb does with a small packet size.
  std::string xml;
  for (int i = 0; i < 10000; ++i) {
    const std::string part = ask(fmt::format("qXfer:features:read:target.xml:{:x},40", xml.size()));
    ASSERT_TRUE(!part.empty() && (part[0] == 'm' || part[0] == 'l')) << part;
    xml += machine::gdb::unescape_binary(part.substr(1)).value();
    if (part[0] == 'l') break;
  }
  EXPECT_EQ(xml, machine::gdb::target_description());
  const std::string& whole = machine::gdb::target_description();
  EXPECT_NE(whole.find("<architecture>riscv:rv64</architecture>"), std::string::npos);
  for (const char* feature : {"org.gnu.gdb.riscv.cpu", "org.gnu.gdb.riscv.fpu", "org.gnu.gdb.riscv.csr",
                              "org.gnu.gdb.riscv.virtual"})
    EXPECT_NE(whole.find(feature), std::string::npos) << feature;
  EXPECT_NE(whole.find("<reg name=\"mstatus\" bitsize=\"64\" type=\"int\" regnum=\""), std::string::npos);
  EXPECT_EQ(ask("qXfer:features:read:other.xml:0,10"), "E00");
  EXPECT_EQ(ask("qXfer:features:read:target.xml:zz,10"), "E22");
  EXPECT_EQ(ask(fmt::format("qXfer:features:read:target.xml:{:x},10", whole.size())), "l");
}

TEST_F(GdbStubTest, RegisterNumberingMatchesTheHart) {
  hart.set_x(as::a0, 0x1122334455667788);
  hart.set_f(3, 0x400921fb54442d18); // pi
  hart.set_csr(riscv::csr::kMscratch, 0xabcdef);
  const std::string g = ask("g");
  ASSERT_EQ(g.size(), 33u * 16);
  EXPECT_EQ(g.substr(10 * 16, 16), "8877665544332211");
  EXPECT_EQ(g.substr(32 * 16, 16), machine::gdb::to_hex_le(kCode, 8));
  EXPECT_EQ(ask("p24"), "182d4454fb210940"); // f3: register 33 + 3
  EXPECT_EQ(ask("p43"), "00000000"); // fcsr: 32 bits
  // mscratch by its number in the description.
  unsigned mscratch = 0;
  for (unsigned i = 0; i < machine::gdb::debug_csrs().size(); ++i)
    if (machine::gdb::debug_csrs()[i].number == riscv::csr::kMscratch) mscratch = machine::gdb::kFirstCsr + i;
  ASSERT_NE(mscratch, 0u);
  EXPECT_EQ(ask(fmt::format("p{:x}", mscratch)), machine::gdb::to_hex_le(0xabcdef, 8));
  EXPECT_EQ(ask(fmt::format("p{:x}", machine::gdb::priv_register())), machine::gdb::to_hex_le(3, 8));
  EXPECT_EQ(ask(fmt::format("p{:x}", machine::gdb::register_count())), "E22");
  EXPECT_EQ(ask("pffffffffffffffffff"), "E22");
  // Writes.
  EXPECT_EQ(ask("P20=0010008000000000"), "OK");
  EXPECT_EQ(hart.pc(), 0x80001000u);
  EXPECT_EQ(ask("P0=0100000000000000"), "OK");
  EXPECT_EQ(hart.x(0), 0u); // x0 stays zero
  EXPECT_EQ(ask("P20=0010"), "E22"); // wrong width
  EXPECT_EQ(ask(fmt::format("P{:x}=0200000000000000", machine::gdb::priv_register())), "E22"); // no mode 2
  EXPECT_EQ(ask(fmt::format("P{:x}=0100000000000000", machine::gdb::priv_register())), "OK");
  EXPECT_EQ(hart.privilege(), 1u);
  // G round-trips g.
  std::string regs = ask("g");
  regs.replace(11 * 16, 16, "efbeadde00000000");
  EXPECT_EQ(ask("G" + regs), "OK");
  EXPECT_EQ(hart.x(as::a1), 0xdeadbeefu);
  EXPECT_EQ(ask("G1234"), "E22");
}

TEST_F(GdbStubTest, AGuestInVsModeShowsItsOwnSupervisorCsrs) {
  unsigned satp = 0;
  for (unsigned i = 0; i < machine::gdb::debug_csrs().size(); ++i)
    if (machine::gdb::debug_csrs()[i].number == riscv::csr::kSatp) satp = machine::gdb::kFirstCsr + i;
  ASSERT_NE(satp, 0u);
  const uint64_t guest_satp = (uint64_t{8} << 60) | 0x1234;
  hart.set_csr(riscv::csr::kVsatp, guest_satp);
  EXPECT_EQ(ask(fmt::format("p{:x}", satp)), machine::gdb::to_hex_le(0, 8)); // V=0: the hart's own satp
  hart.set_privilege(1);
  hart.set_virtualization(true);
  EXPECT_EQ(ask(fmt::format("p{:x}", satp)), machine::gdb::to_hex_le(guest_satp, 8));
  EXPECT_EQ(ask(fmt::format("P{:x}={}", satp, machine::gdb::to_hex_le(0, 8))), "OK");
  hart.set_virtualization(false);
  EXPECT_EQ(hart.csr(riscv::csr::kVsatp), 0u);
}

TEST_F(GdbStubTest, MemoryReadsWritesAndErrors) {
  put64(kData, 0x0807060504030201);
  EXPECT_EQ(ask(fmt::format("m{:x},8", kData)), "0102030405060708");
  EXPECT_EQ(ask(fmt::format("M{:x},2:aabb", kData)), "OK");
  EXPECT_EQ(get64(kData) & 0xffff, 0xbbaau);
  // X carries raw bytes: '}' and '#' arrive escaped on the wire and are stored as themselves.
  EXPECT_EQ(ask(fmt::format("X{:x},2:}}#", kData)), "OK");
  EXPECT_EQ(get64(kData) & 0xffff, 0x237du);
  EXPECT_EQ(ask(fmt::format("X{:x},3:}}#", kData)), "E22"); // fewer bytes than announced
  EXPECT_EQ(ask(fmt::format("X{:x},0:", kData)), "OK");        // gdb's probe for X
  EXPECT_EQ(ask("m0,4"), "E14");                                // nothing there
  EXPECT_EQ(ask("m10000000,4"), "E14");                         // the UART: no device reads
  EXPECT_EQ(ask("m80000000"), "E22");
  EXPECT_EQ(ask("mzz,4"), "E22");
  EXPECT_EQ(ask(fmt::format("M{:x},4:aabb", kData)), "E22");    // length and data disagree
  EXPECT_EQ(ask(fmt::format("M{:x},2:zzzz", kData)), "E22");
  // A read running off the end of RAM returns what exists.
  const uint64_t end = kRamBase + kRamSize;
  EXPECT_EQ(ask(fmt::format("m{:x},8", end - 4)).size(), 8u);
  // A huge length is capped, not allocated.
  EXPECT_EQ(ask(fmt::format("m{:x},ffffffffffffffff", kData)).size(), 2u * 0x1000);
}

TEST_F(GdbStubTest, MemoryGoesThroughTheCurrentTranslationWithoutSettingAccessedBits) {
  // Sv39: VA 0x40000000 (1 GiB superpage) -> PA 0x80000000, R W X, A and D clear.
  const uint64_t root = kRamBase + 0x200000;
  const uint64_t pte = ((kRamBase >> 12) << 10) | 0xf; // V R W X
  put64(root + 1 * 8, pte);
  hart.set_csr(riscv::csr::kSatp, (uint64_t{8} << 60) | (root >> 12));
  hart.set_privilege(1);
  put64(kData, 0x1122334455667788);
  EXPECT_EQ(ask(fmt::format("m{:x},8", 0x40000000 + (kData - kRamBase))), "8877665544332211");
  EXPECT_EQ(get64(root + 8), pte) << "a debugger read set A/D bits";
  EXPECT_EQ(ask(fmt::format("m{:x},8", kData)), "E14"); // the physical address is not mapped
  // In U-mode the debugger still sees supervisor pages.
  hart.set_privilege(0);
  EXPECT_EQ(ask(fmt::format("m{:x},8", 0x40000000 + (kData - kRamBase))), "8877665544332211");
}

TEST_F(GdbStubTest, ThreadsAndStopReplies) {
  EXPECT_EQ(ask("qfThreadInfo"), "m1");
  EXPECT_EQ(ask("qsThreadInfo"), "l");
  EXPECT_EQ(ask("qC"), "QC1");
  EXPECT_EQ(ask("Hg1"), "OK");
  EXPECT_EQ(ask("Hg2"), "E02");
  EXPECT_EQ(ask("Hc-1"), "OK");
  // c after Hc with a thread resumes that thread only (gdb's software single step and its step
  // over a breakpoint rely on it); Hc-1 means every thread again.
  EXPECT_EQ(ask("Hc1"), "OK");
  ask("c");
  EXPECT_EQ(last_resume.kind, Resume::Kind::run);
  EXPECT_TRUE(last_resume.only_hart);
  EXPECT_EQ(last_resume.hart, 0u);
  ask("?");
  EXPECT_EQ(ask("Hc-1"), "OK");
  ask("c");
  EXPECT_EQ(last_resume.kind, Resume::Kind::run);
  EXPECT_FALSE(last_resume.only_hart);
  ask("?");
  EXPECT_EQ(ask("T1"), "OK");
  EXPECT_EQ(ask("T2"), "E02");
  EXPECT_EQ(ask("?"), "T05thread:1;");
  EXPECT_EQ(ask("vMustReplyEmpty"), "");
  EXPECT_EQ(ask("vCont?"), "vCont;c;C;s;S");
  ask("vCont;s:1;c");
  EXPECT_EQ(last_resume.kind, Resume::Kind::step);
  EXPECT_EQ(last_resume.hart, 0u);
  ask("?");
  ask("vCont;c");
  EXPECT_EQ(last_resume.kind, Resume::Kind::run);
  EXPECT_FALSE(last_resume.only_hart);
  ask("?");
  ask("vCont;c:1");
  EXPECT_TRUE(last_resume.only_hart);
  ask("?");
  EXPECT_EQ(ask("vCont;s:2"), "E02");
  EXPECT_EQ(ask("vCont;x"), "E22");
  EXPECT_EQ(ask("vCont;"), "E22");
  EXPECT_EQ(ask("Z2,80000000,4"), ""); // watchpoints: unsupported
  EXPECT_EQ(ask("Z0,80000000,3"), "E22");
  EXPECT_EQ(ask("Z0,80000000"), "E22");
}

// A loop of four increments; breakpoints at the block start and in the middle of it.
// The parameter interface first: the fixture holds harts of over 1 MiB (their soft TLBs), and UBSan
// refuses a vptr whose offset to the object's top is that large.
class GdbStubRunTest : public ::testing::WithParamInterface<bool>, public GdbStubTest {};

TEST_P(GdbStubRunTest, BreakpointsStepsAndContinue) {
  if (GetParam()) hart.set_jit(true, 1);
  emit({as::addi(as::a0, as::a0, 1), as::addi(as::a0, as::a0, 1), as::addi(as::a0, as::a0, 1),
        as::addi(as::a1, as::a1, 1), as::jal(0, -16)});
  // Let the JIT translate the loop first, so breakpoints must get past native code.
  hart.run(1000);
  hart.set_pc(kCode);
  const uint64_t middle = kCode + 8;
  EXPECT_EQ(ask(fmt::format("Z0,{:x},4", middle)), "OK");
  EXPECT_EQ(ask("c"), "<no reply>"); // the stop reply comes when the harts stop
  ASSERT_EQ(last_resume.kind, Resume::Kind::run);
  run_to_breakpoint();
  EXPECT_EQ(hart.pc(), middle);
  const uint64_t a0 = hart.x(as::a0);
  // Report the stop, then step exactly one instruction.
  transport.sent.clear();
  transport.incoming.push_back(machine::gdb::encode_packet("s"));
  last_resume = stub.serve(StopReason::breakpoint, 0);
  EXPECT_EQ(reply_payload(), "T05thread:1;");
  ASSERT_EQ(last_resume.kind, Resume::Kind::step);
  hart.set_single_step(true);
  EXPECT_EQ(hart.run(1000), 1u);
  hart.set_single_step(false);
  EXPECT_EQ(hart.pc(), middle + 4);
  EXPECT_EQ(hart.x(as::a0), a0 + 1);
  // Around the loop once more: the breakpoint stops it again, a0 three more.
  run_to_breakpoint();
  EXPECT_EQ(hart.pc(), middle);
  EXPECT_EQ(hart.x(as::a0), a0 + 3);
  // Removing it lets the loop run free.
  transport.incoming.push_back(machine::gdb::encode_packet(fmt::format("z0,{:x},4", middle)));
  stub.serve(StopReason::breakpoint, 0);
  EXPECT_FALSE(stub.has_breakpoints());
  hart.run(1000);
  EXPECT_FALSE(hart.stopped_at_breakpoint());
  EXPECT_GT(hart.x(as::a0), a0 + 100);
}

TEST_P(GdbStubRunTest, WritingCodeThroughTheDebuggerIsSeenByTheHart) {
  if (GetParam()) hart.set_jit(true, 1);
  emit({as::addi(as::a0, as::a0, 1), as::jal(0, -4)});
  hart.run(1000);
  const uint64_t before = hart.x(as::a0);
  EXPECT_GT(before, 0u);
  // Replace the increment by "addi a1, a1, 1": decoded and translated code must be dropped.
  const uint32_t insn = as::addi(as::a1, as::a1, 1);
  EXPECT_EQ(ask(fmt::format("M{:x},4:{}", kCode, machine::gdb::to_hex_le(insn, 4))), "OK");
  hart.run(1000);
  EXPECT_LE(hart.x(as::a0), before + 1);
  EXPECT_GT(hart.x(as::a1), 0u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, GdbStubRunTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "jit" : "interpreter"; });

TEST_F(GdbStubTest, MalformedPacketsAreNackedAndHangUpDetaches) {
  // Back to ack mode on a fresh stub to see the '-'.
  FakeTransport t;
  machine::gdb::Stub fresh(t, {&hart});
  t.incoming.push_back("$g#00");
  fresh.serve(StopReason::attached, 0);
  EXPECT_EQ(t.sent, "-");
  t.sent.clear();
  t.incoming.push_back(machine::gdb::encode_packet("Z0,80000000,4"));
  fresh.serve(StopReason::attached, 0);
  EXPECT_EQ(t.sent, "+$OK#9a");
  EXPECT_TRUE(fresh.has_breakpoints());
  t.sent.clear();
  t.incoming.push_back("-");
  fresh.serve(StopReason::attached, 0);
  EXPECT_EQ(t.sent, "$OK#9a"); // resent
  // No debugger connected: nothing to serve.
  t.connected_ = false;
  EXPECT_EQ(fresh.serve(StopReason::attached, 0).kind, Resume::Kind::waiting);
  // A hang-up while stopped: breakpoints are dropped and the machine runs on.
  t.connected_ = true;
  t.hang_up = true;
  EXPECT_EQ(fresh.serve(StopReason::attached, 0).kind, Resume::Kind::detached);
  EXPECT_FALSE(fresh.has_breakpoints());
}

TEST_F(GdbStubTest, InterruptWhileRunningStopsAndDetachClearsBreakpoints) {
  EXPECT_EQ(ask(fmt::format("Z1,{:x},2", kCode)), "OK");
  EXPECT_EQ(ask("c"), "<no reply>"); // the stop reply comes when the harts stop
  EXPECT_EQ(stub.poll(), std::nullopt);
  transport.incoming.push_back("\x03");
  EXPECT_EQ(stub.poll(), StopReason::interrupted);
  transport.sent.clear();
  transport.incoming.push_back(machine::gdb::encode_packet("D"));
  const Resume r = stub.serve(StopReason::interrupted, 0);
  EXPECT_NE(transport.sent.find("T02thread:1;"), std::string::npos);
  EXPECT_NE(transport.sent.find("$OK#9a"), std::string::npos);
  EXPECT_EQ(r.kind, Resume::Kind::detached);
  EXPECT_FALSE(stub.has_breakpoints());
  EXPECT_FALSE(transport.connected_);
}

TEST_F(GdbStubTest, ExitIsReportedToAWaitingDebugger) {
  EXPECT_EQ(ask("c"), "<no reply>"); // the stop reply comes when the harts stop
  transport.sent.clear();
  stub.exited(3);
  EXPECT_EQ(transport.sent, "$W03#ba");
  EXPECT_FALSE(transport.connected_);
}

} // namespace
} // namespace nimbus::test
