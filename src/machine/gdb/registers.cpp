#include "machine/gdb/registers.hpp"

#include <fmt/format.h>

#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine::gdb {

namespace {

namespace csr = riscv::csr;

constexpr const char* kIntegerNames[32] = {"zero", "ra", "sp", "gp", "tp",  "t0",  "t1", "t2", "fp", "s1", "a0",
                                           "a1",   "a2", "a3", "a4", "a5",  "a6",  "a7", "s2", "s3", "s4", "s5",
                                           "s6",   "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"};

constexpr CsrName kCsrs[] = {
    {csr::kSstatus, "sstatus"},     {csr::kSie, "sie"},           {csr::kStvec, "stvec"},
    {csr::kScounteren, "scounteren"}, {csr::kSenvcfg, "senvcfg"}, {csr::kSscratch, "sscratch"},
    {csr::kSepc, "sepc"},           {csr::kScause, "scause"},     {csr::kStval, "stval"},
    {csr::kSip, "sip"},             {csr::kStimecmp, "stimecmp"}, {csr::kSatp, "satp"},
    {csr::kMvendorid, "mvendorid"}, {csr::kMarchid, "marchid"},   {csr::kMimpid, "mimpid"},
    {csr::kMhartid, "mhartid"},     {csr::kMstatus, "mstatus"},   {csr::kMisa, "misa"},
    {csr::kMedeleg, "medeleg"},     {csr::kMideleg, "mideleg"},   {csr::kMie, "mie"},
    {csr::kMtvec, "mtvec"},         {csr::kMcounteren, "mcounteren"}, {csr::kMenvcfg, "menvcfg"},
    {csr::kMcountinhibit, "mcountinhibit"}, {csr::kMscratch, "mscratch"}, {csr::kMepc, "mepc"},
    {csr::kMcause, "mcause"},       {csr::kMtval, "mtval"},       {csr::kMip, "mip"},
    {csr::kMtinst, "mtinst"},       {csr::kMtval2, "mtval2"},
    {csr::kPmpcfg0, "pmpcfg0"},     {csr::kPmpcfg0 + 2, "pmpcfg2"},
    {csr::kPmpaddr0, "pmpaddr0"},   {csr::kPmpaddr0 + 1, "pmpaddr1"}, {csr::kPmpaddr0 + 2, "pmpaddr2"},
    {csr::kPmpaddr0 + 3, "pmpaddr3"},
    {csr::kMcycle, "mcycle"},       {csr::kMinstret, "minstret"},
    {csr::kCycle, "cycle"},         {csr::kTime, "time"},         {csr::kInstret, "instret"},
    {csr::kHstatus, "hstatus"},     {csr::kHedeleg, "hedeleg"},   {csr::kHideleg, "hideleg"},
    {csr::kHie, "hie"},             {csr::kHtimedelta, "htimedelta"}, {csr::kHcounteren, "hcounteren"},
    {csr::kHgeie, "hgeie"},         {csr::kHenvcfg, "henvcfg"},   {csr::kHtval, "htval"},
    {csr::kHip, "hip"},             {csr::kHvip, "hvip"},         {csr::kHtinst, "htinst"},
    {csr::kHgatp, "hgatp"},         {csr::kHgeip, "hgeip"},
    {csr::kVsstatus, "vsstatus"},   {csr::kVsie, "vsie"},         {csr::kVstvec, "vstvec"},
    {csr::kVsscratch, "vsscratch"}, {csr::kVsepc, "vsepc"},       {csr::kVscause, "vscause"},
    {csr::kVstval, "vstval"},       {csr::kVsip, "vsip"},         {csr::kVstimecmp, "vstimecmp"},
    {csr::kVsatp, "vsatp"},
};
constexpr unsigned kCsrCount = sizeof(kCsrs) / sizeof(kCsrs[0]);

std::string build_description() {
  std::string xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
      "<architecture>riscv:rv64</architecture>\n<feature name=\"org.gnu.gdb.riscv.cpu\">\n";
  for (unsigned i = 0; i < 32; ++i) {
    const char* type = (i == 1) ? "code_ptr" : (i == 2 || i == 8) ? "data_ptr" : "int";
    xml += fmt::format("  <reg name=\"{}\" bitsize=\"64\" type=\"{}\" regnum=\"{}\"/>\n", kIntegerNames[i], type, i);
  }
  xml += fmt::format("  <reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"{}\"/>\n</feature>\n", kPc);
  // f registers hold NaN-boxed singles or doubles: a union shows both.
  xml += "<feature name=\"org.gnu.gdb.riscv.fpu\">\n"
         "  <union id=\"riscv_double\">\n    <field name=\"float\" type=\"ieee_single\"/>\n"
         "    <field name=\"double\" type=\"ieee_double\"/>\n  </union>\n";
  for (unsigned i = 0; i < 32; ++i)
    xml += fmt::format("  <reg name=\"f{}\" bitsize=\"64\" type=\"riscv_double\" regnum=\"{}\"/>\n", i, kFirstFpr + i);
  xml += fmt::format("  <reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"{}\" group=\"float\"/>\n"
                     "  <reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"{}\" group=\"float\"/>\n"
                     "  <reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"{}\" group=\"float\"/>\n</feature>\n",
                     kFflags, kFrm, kFcsr);
  xml += "<feature name=\"org.gnu.gdb.riscv.csr\">\n";
  for (unsigned i = 0; i < kCsrCount; ++i)
    xml += fmt::format("  <reg name=\"{}\" bitsize=\"64\" type=\"int\" regnum=\"{}\" group=\"system\"/>\n",
                       kCsrs[i].name, kFirstCsr + i);
  xml += "</feature>\n<feature name=\"org.gnu.gdb.riscv.virtual\">\n";
  xml += fmt::format("  <reg name=\"priv\" bitsize=\"64\" type=\"int\" regnum=\"{}\" group=\"system\"/>\n", priv_register());
  xml += "</feature>\n</target>\n";
  return xml;
}

// With V=1 (a guest in VS/VU-mode: the VMM's hw mode) the S CSRs the debugger asks for are the
// guest's own, the VS CSRs, as a CSR instruction of the guest would see them.
uint16_t guest_view(const Hart& hart, unsigned number) {
  const uint16_t csr_number = kCsrs[number - kFirstCsr].number;
  return hart.virtualization() ? csr::vs_substitute(csr_number) : csr_number;
}

} // namespace

std::span<const CsrName> debug_csrs() { return kCsrs; }
unsigned priv_register() { return kFirstCsr + kCsrCount; }
unsigned register_count() { return priv_register() + 1; }

const std::string& target_description() {
  static const std::string xml = build_description();
  return xml;
}

std::optional<uint64_t> read_register(const Hart& hart, unsigned number) {
  if (number < 32) return hart.x(number);
  if (number == kPc) return hart.pc();
  if (number >= kFirstFpr && number < kFirstFpr + 32) return hart.f(number - kFirstFpr);
  if (number == kFflags) return hart.csr(csr::kFflags);
  if (number == kFrm) return hart.csr(csr::kFrm);
  if (number == kFcsr) return hart.csr(csr::kFcsr);
  if (number >= kFirstCsr && number < kFirstCsr + kCsrCount) return hart.csr(guest_view(hart, number));
  if (number == priv_register()) return hart.privilege();
  return std::nullopt;
}

bool write_register(Hart& hart, unsigned number, uint64_t value) {
  if (number < 32) {
    hart.set_x(number, value); // x0 stays zero
  } else if (number == kPc) {
    hart.set_pc(value);
  } else if (number >= kFirstFpr && number < kFirstFpr + 32) {
    hart.set_f(number - kFirstFpr, value);
  } else if (number == kFflags || number == kFrm || number == kFcsr) {
    hart.set_csr(number == kFflags ? csr::kFflags : number == kFrm ? csr::kFrm : csr::kFcsr, value);
  } else if (number >= kFirstCsr && number < kFirstCsr + kCsrCount) {
    hart.set_csr(guest_view(hart, number), value);
  } else if (number == priv_register()) {
    if (value != 0 && value != 1 && value != 3) return false;
    hart.set_privilege(static_cast<unsigned>(value));
  } else {
    return false;
  }
  return true;
}

} // namespace nimbus::machine::gdb
