#include "tests/support/tiny_kernel.h"

#include <cstdio>
#include <map>
#include <stdexcept>

namespace hvmd::test {
namespace {

// Just enough of an assembler: bytes, labels, and fields filled in once every label is known.
class Asm {
 public:
  explicit Asm(uint32_t base, size_t origin = 0) : base_(base), out_(origin, 0) {}
  Asm& operator()(std::initializer_list<uint8_t> bytes) {
    out_.insert(out_.end(), bytes);
    return *this;
  }
  Asm& imm32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  void label(const std::string& name) { labels_[name] = out_.size(); }
  // A field holding the label's distance from the field's end (jumps and calls).
  Asm& rel(const std::string& name, unsigned size) { return field(name, size, true); }
  // A field holding the label's address (base + offset).
  Asm& abs(const std::string& name, unsigned size) { return field(name, size, false); }
  Asm& text(const std::string& s) {
    out_.insert(out_.end(), s.begin(), s.end());
    out_.push_back(0);
    return *this;
  }
  size_t size() const { return out_.size(); }
  std::vector<uint8_t> finish() {
    for (const auto& f : fixups_) {
      auto it = labels_.find(f.name);
      if (it == labels_.end()) throw std::logic_error("tiny kernel: no label " + f.name);
      int64_t v = f.relative ? int64_t(it->second) - int64_t(f.at + f.size)
                             : int64_t(base_) + int64_t(it->second);
      for (unsigned i = 0; i < f.size; ++i) out_[f.at + i] = static_cast<uint8_t>(v >> (8 * i));
    }
    return out_;
  }

 private:
  struct Fixup {
    std::string name;
    size_t at;
    unsigned size;
    bool relative;
  };
  Asm& field(const std::string& name, unsigned size, bool relative) {
    fixups_.push_back({name, out_.size(), size, relative});
    out_.insert(out_.end(), size, 0);
    return *this;
  }
  uint32_t base_;
  std::vector<uint8_t> out_;
  std::map<std::string, size_t> labels_;
  std::vector<Fixup> fixups_;
};

constexpr uint32_t kBodyAddress = 0x100000;
constexpr size_t kSetupCode = 0x240;  // after the header

void put(std::vector<uint8_t>& v, size_t at, uint32_t value, unsigned size) {
  for (unsigned i = 0; i < size; ++i) v[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// Real mode, entered at setup + 0x200 with CS = seg + 0x20, DS = ES = SS = seg (the setup's
// segment): data labels are DS offsets, which are file offsets.
std::vector<uint8_t> setup_code() {
  Asm a(0, kSetupCode);
  a({0xfa, 0xfc});              // cli; cld
  a({0xba, 0xf8, 0x03});        // mov dx, 0x3f8
  a({0xbe}).abs("msg", 2);      // mov si, msg
  a({0xe8}).rel("print", 2);    // call print
  a({0x66, 0xa1, 0x28, 0x02});  // mov eax, [0x228]      cmd_line_ptr
  a({0x89, 0xc6});              // mov si, ax
  a({0x83, 0xe6, 0x0f});        // and si, 0xf
  a({0x66, 0xc1, 0xe8, 0x04});  // shr eax, 4
  a({0x1e, 0x8e, 0xd8});        // push ds; mov ds, ax
  a({0xe8}).rel("print", 2);    // call print             the command line
  a({0x1f});                    // pop ds
  a({0xbe}).abs("newline", 2);  // mov si, newline
  a({0xe8}).rel("print", 2);    // call print
  // Protected mode: the GDT's and the 32-bit entry's linear addresses need the setup's base.
  a({0x66, 0x31, 0xc0, 0x8c, 0xd8});           // xor eax, eax; mov ax, ds
  a({0x66, 0xc1, 0xe0, 0x04});                 // shl eax, 4            setup base = boot_params
  a({0x66, 0x89, 0xc3});                       // mov ebx, eax
  a({0x66, 0x05}).abs("gdt", 4);               // add eax, gdt
  a({0x66, 0xa3}).abs("gdtr_base", 2);         // mov [gdtr_base], eax
  a({0x66, 0x89, 0xd8});                       // mov eax, ebx
  a({0x66, 0x05}).abs("pm32", 4);              // add eax, pm32
  a({0x66, 0xa3}).abs("far_offset", 2);        // mov [far_offset], eax
  a({0x66, 0x0f, 0x01, 0x16}).abs("gdtr", 2);  // lgdt [gdtr]
  a({0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0});  // mov eax, cr0; or al, 1; mov cr0, eax
  a({0x66, 0xea});                                      // jmp dword 0x10:far_offset
  a.label("far_offset");
  a.imm32(0)({0x10, 0x00});
  // 32-bit, flat: data segments, boot_params in ESI, on to code32_start.
  a.label("pm32");
  a({0x66, 0xb8, 0x18, 0x00});              // mov ax, 0x18
  a({0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0});  // mov ds, ax; mov es, ax; mov ss, ax
  a({0x89, 0xde});                          // mov esi, ebx
  a({0x8b, 0x83, 0x14, 0x02, 0x00, 0x00});  // mov eax, [ebx + 0x214]
  a({0xff, 0xe0});                          // jmp eax
  // print: DS:SI, a NUL-terminated string, to port DX (the same bytes in 16- and 32-bit code).
  a.label("print");
  a({0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xc3});
  a.label("msg");
  a.text("SETUP cmdline=");
  a.label("newline");
  a.text("\n");
  while (a.size() % 8) a({0});
  // Selectors 0x10 (code) and 0x18 (data), flat 4 GiB, as the protocol's 32-bit entry has them.
  a.label("gdt");
  a({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  a({0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0});
  a({0xff, 0xff, 0, 0, 0, 0x92, 0xcf, 0});
  a.label("gdtr");
  a({31, 0});
  a.label("gdtr_base");
  a.imm32(0);
  auto code = a.finish();
  if (code.size() > kTinySetupBytes) throw std::logic_error("tiny kernel: setup too large");
  return code;
}

// The protected-mode body at 1 MiB; ESI = boot_params.
std::vector<uint8_t> body_code(size_t body_bytes) {
  Asm a(kBodyAddress);
  a({0x89, 0xf5});                          // mov ebp, esi
  a({0xbc}).imm32(0x90000);                 // mov esp, 0x90000
  a({0xba}).imm32(0x3f8);                   // mov edx, 0x3f8
  a({0xbe}).abs("kernel_msg", 4);           // mov esi, kernel_msg
  a({0xe8}).rel("print", 4);                // call print
  a({0xbf}).imm32(kBodyAddress);            // mov edi, body
  a({0xb9}).imm32(uint32_t(body_bytes));    // mov ecx, body size
  a({0xe8}).rel("sum", 4);                  // call sum
  a({0xe8}).rel("hex", 4);                  // call hex
  a({0xbe}).abs("initrd_msg", 4);           // mov esi, initrd_msg
  a({0xe8}).rel("print", 4);                // call print
  a({0x8b, 0xbd, 0x18, 0x02, 0x00, 0x00});  // mov edi, [ebp + 0x218]   ramdisk_image
  a({0x8b, 0x8d, 0x1c, 0x02, 0x00, 0x00});  // mov ecx, [ebp + 0x21c]   ramdisk_size
  a({0xe8}).rel("sum", 4);
  a({0xe8}).rel("hex", 4);
  a({0xbe}).abs("done_msg", 4);
  a({0xe8}).rel("print", 4);
  a.label("halt");
  a({0xfa, 0xf4, 0xeb, 0xfd});  // cli; hlt; jmp halt
  // sum: EBX = the sum of ECX bytes at EDI.
  a.label("sum");
  a({0x31, 0xdb, 0x31, 0xc0, 0x85, 0xc9, 0x74, 0x09});  // xor ebx, ebx; xor eax, eax; test; jz
  a({0x0f, 0xb6, 0x07, 0x01, 0xc3, 0x47, 0x49, 0x75, 0xf7});  // movzx eax,[edi]; add; inc; dec; jnz
  a({0xc3});
  // hex: EBX as 8 hex digits to port DX.
  a.label("hex");
  a({0xb9}).imm32(8);                                   // mov ecx, 8
  a({0xc1, 0xc3, 0x04, 0x89, 0xd8, 0x83, 0xe0, 0x0f});  // rol ebx, 4; mov eax, ebx; and eax, 0xf
  a({0x8a, 0x80}).abs("digits", 4);                     // mov al, [eax + digits]
  a({0xee, 0x49, 0x75, 0xee, 0xc3});                    // out dx, al; dec ecx; jnz; ret
  a.label("print");
  a({0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xc3});
  a.label("digits");
  a({'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'});
  a.label("kernel_msg");
  a.text("KERNEL ");
  a.label("initrd_msg");
  a.text(" INITRD ");
  a.label("done_msg");
  a.text("\nTINY KERNEL DONE\n");
  auto code = a.finish();
  if (code.size() > body_bytes) throw std::logic_error("tiny kernel: body too small");
  // The rest: a pattern, so a misplaced or dropped chunk changes the sum.
  for (size_t i = code.size(); i < body_bytes; ++i)
    code.push_back(static_cast<uint8_t>(i * 7 + (i >> 8)));
  return code;
}

}  // namespace

std::vector<uint8_t> tiny_bzimage(size_t body_bytes) {
  std::vector<uint8_t> image = setup_code();
  image.resize(kTinySetupBytes, 0);
  image[0x1f1] = kTinySetupBytes / 512 - 1;  // setup_sects
  put(image, 0x1fe, 0xaa55, 2);              // boot_flag
  image[0x200] = 0xeb;                       // jmp short to the setup code
  image[0x201] = static_cast<uint8_t>(kSetupCode - 0x202);
  put(image, 0x202, 0x53726448, 4);    // "HdrS"
  put(image, 0x206, 0x0206, 2);        // protocol 2.06
  image[0x211] = 0x01;                 // loadflags: LOADED_HIGH
  put(image, 0x214, kBodyAddress, 4);  // code32_start
  put(image, 0x22c, 0x7fffffff, 4);    // initrd_addr_max
  put(image, 0x238, 2047, 4);          // cmdline_size
  auto body = body_code(body_bytes);
  image.insert(image.end(), body.begin(), body.end());
  return image;
}

std::string tiny_kernel_sum(const std::vector<uint8_t>& bytes, size_t from, size_t to) {
  uint32_t sum = 0;
  for (size_t i = from; i < std::min(to, bytes.size()); ++i) sum += bytes[i];
  char text[9];
  snprintf(text, sizeof(text), "%08X", sum);
  return text;
}

}  // namespace hvmd::test
