/* A 64 KiB BIOS image for hvmd's kvm runner that takes a passed-through edu's MSI and e1000e's
 * MSI-X vectors, for run-vfio-kvm-msi.sh (the pattern of kvm_intx_guest.S). It enters flat 32-bit
 * protected mode, points every IDT vector at an iret and vectors 0x31 (edu's MSI) and 0x40, 0x42,
 * 0x43 (e1000e's MSI-X vectors 0, 2, 3) at handlers that count and write a character to the debug
 * port 0x402, enables the LAPIC and masks the 8259 PICs. Then:
 * - edu at 00:05.0: BAR0, memory + bus master, its MSI capability (found on the capability list)
 *   programmed to vector 0x31 and enabled; three times edu is asked for an interrupt ('M' each);
 * - e1000e at 00:06.0: BAR0, BAR1, BAR3 (the MSI-X table and PBA), memory + bus master; table
 *   entries 0, 2 and 3 programmed (3 left masked), MSI-X enabled; causes RXQ0, TXQ0 and TXQ1 are
 *   mapped to vectors 0, 2, 3 (IVAR) and raised one after the other (ICS): '0' and '2' arrive;
 *   vector 3 is masked, so the guest waits for its pending bit in the PBA ('P'), then unmasks it
 *   and takes it ('3').
 * Then "DONE\n" and it halts for good. A capability not found prints "NOCAP\n" and halts. */
        .set BASE, 0xf0000          /* where the image runs (its copy below 1 MiB) */
        .set EDU, 0xfe000000        /* edu's BAR0 as this guest places it */
        .set E1000, 0xfe200000      /* e1000e's BAR0 (registers) */
        .set E1000_FLASH, 0xfe220000
        .set E1000_MSIX, 0xfe240000 /* BAR3: MSI-X table and PBA */
        .set EDU_CFG, 0x80002800    /* config address of 00:05.0 */
        .set E1000_CFG, 0x80003000  /* 00:06.0 */
        .set IDT, 0x1000
        .set COUNT_MSI, 0x500
        .set COUNT_X0, 0x504
        .set COUNT_X2, 0x508
        .set COUNT_X3, 0x50c
        .set TABLE, 0x510           /* guest address of the MSI-X table */
        .set PBA, 0x514
        .set DEBUG_PORT, 0x402
        .set ICS, 0xc8
        .set IMS, 0xd0
        .set IVAR, 0xe4

/* Spin with interrupts on until the counter reaches value (not hlt: an interrupt already pending
 * when hlt comes returns to the hlt, which then waits for good). */
.macro WAIT counter, value
        sti
91:     pause
        cmpl $\value, \counter
        jne 91b
        cli
.endm

/* A vector's handler: count, say so, EOI the LAPIC. */
.macro HANDLER name, counter, char
\name:
        pushl %eax
        pushl %edx
        incl \counter
        movw $DEBUG_PORT, %dx
        movb $\char, %al
        outb %al, %dx
        movl $0, 0xfee000b0
        popl %edx
        popl %eax
        iret
.endm

/* IDT gate for vector v -> handler h */
.macro GATE v, h
        movl $\h + BASE, %eax
        movw %ax, IDT + \v * 8
        shrl $16, %eax
        movw %ax, IDT + \v * 8 + 6
.endm

        .code16
        .text
start16:
        cli
        lgdtl %cs:gdt_desc
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        .byte 0x66, 0xea            /* ljmpl $0x08, $start32 */
        .long start32 + BASE
        .word 0x08

        .code32
start32:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $0x70000, %esp
        movl $IDT, %edi
        movl $256, %ecx
        movl $ignore + BASE, %eax
1:      movw %ax, (%edi)
        movw $0x08, 2(%edi)
        movw $0x8e00, 4(%edi)
        movl %eax, %edx
        shrl $16, %edx
        movw %dx, 6(%edi)
        addl $8, %edi
        loop 1b
        GATE 0x31, edu_msi
        GATE 0x40, msix0
        GATE 0x42, msix2
        GATE 0x43, msix3
        lidt idt_desc + BASE
        movl $0x1ff, 0xfee000f0     /* LAPIC: software enabled */
        /* PICs: vectors 0x20 and 0x28, all masked */
        movb $0x11, %al
        outb %al, $0x20
        outb %al, $0xa0
        movb $0x20, %al
        outb %al, $0x21
        movb $0x28, %al
        outb %al, $0xa1
        movb $0x04, %al
        outb %al, $0x21
        movb $0x02, %al
        outb %al, $0xa1
        movb $0x01, %al
        outb %al, $0x21
        outb %al, $0xa1
        movb $0xff, %al
        outb %al, $0x21
        outb %al, $0xa1
        xorl %eax, %eax
        movl %eax, COUNT_MSI
        movl %eax, COUNT_X0
        movl %eax, COUNT_X2
        movl %eax, COUNT_X3

        /* edu: BAR0, memory + bus master */
        movl $EDU_CFG + 0x10, %eax
        movl $EDU, %ecx
        call cfg_write
        movl $EDU_CFG + 0x04, %eax
        movl $0x0006, %ecx
        call cfg_write
        /* its MSI capability: address 0xfee00000 (APIC 0), data vector 0x31, enabled */
        movl $EDU_CFG, %ebx
        movb $0x05, %cl
        call find_cap
        testl %eax, %eax
        jz nocap
        movl %eax, %ebp
        leal 4(%ebp), %eax
        orl %ebx, %eax
        movl $0xfee00000, %ecx
        call cfg_write
        movl %ebp, %eax             /* 64-bit capable (control bit 7): data at 0x0c, else 0x08 */
        orl %ebx, %eax
        call cfg_read
        leal 8(%ebp), %edi
        testl $0x00800000, %eax
        jz 2f
        leal 8(%ebp), %eax
        orl %ebx, %eax
        xorl %ecx, %ecx
        call cfg_write              /* upper address 0 */
        leal 12(%ebp), %edi
2:      movl %edi, %eax             /* data is 16 bits (the rest of the dword is reserved) */
        orl %ebx, %eax
        movw $0xcf8, %dx
        outl %eax, %dx
        movw $0xcfc, %dx
        movw $0x31, %ax
        outw %ax, %dx
        movl %ebp, %eax
        orl %ebx, %eax
        call cfg_read
        orl $0x00010000, %eax       /* control: MSI enable */
        movl %eax, %ecx
        movl %ebp, %eax
        orl %ebx, %eax
        call cfg_write
        movl $1, EDU + 0x60         /* raise interrupt: status bit 0, sent as the MSI */
        WAIT COUNT_MSI, 1
        movl $1, EDU + 0x60
        WAIT COUNT_MSI, 2
        movl $1, EDU + 0x60
        WAIT COUNT_MSI, 3

        /* e1000e: BAR0, BAR1, BAR3, memory + bus master */
        movl $E1000_CFG + 0x10, %eax
        movl $E1000, %ecx
        call cfg_write
        movl $E1000_CFG + 0x14, %eax
        movl $E1000_FLASH, %ecx
        call cfg_write
        movl $E1000_CFG + 0x1c, %eax
        movl $E1000_MSIX, %ecx
        call cfg_write
        movl $E1000_CFG + 0x04, %eax
        movl $0x0006, %ecx
        call cfg_write
        movl $E1000_CFG, %ebx
        movb $0x11, %cl
        call find_cap
        testl %eax, %eax
        jz nocap
        movl %eax, %ebp
        leal 4(%ebp), %eax          /* table offset | BIR (3) */
        orl %ebx, %eax
        call cfg_read
        andl $~7, %eax
        addl $E1000_MSIX, %eax
        movl %eax, TABLE
        leal 8(%ebp), %eax
        orl %ebx, %eax
        call cfg_read
        andl $~7, %eax
        addl $E1000_MSIX, %eax
        movl %eax, PBA
        /* entries 0, 2 and 3: APIC 0, vectors 0x40, 0x42, 0x43; 3 stays masked */
        movl TABLE, %edi
        movl $0xfee00000, 0x00(%edi)
        movl $0, 0x04(%edi)
        movl $0x40, 0x08(%edi)
        movl $0, 0x0c(%edi)
        movl $0xfee00000, 0x20(%edi)
        movl $0, 0x24(%edi)
        movl $0x42, 0x28(%edi)
        movl $0, 0x2c(%edi)
        movl $0xfee00000, 0x30(%edi)
        movl $0, 0x34(%edi)
        movl $0x43, 0x38(%edi)
        movl $1, 0x3c(%edi)
        movl %ebp, %eax             /* control: MSI-X enable */
        orl %ebx, %eax
        call cfg_read
        orl $0x80000000, %eax
        movl %eax, %ecx
        movl %ebp, %eax
        orl %ebx, %eax
        call cfg_write
        /* causes RXQ0, RXQ1, TXQ0, TXQ1, other -> vectors 0-4 (bit 3 of each field: valid) */
        movl $0x000cba98, E1000 + IVAR
        movl $0x00f00000, E1000 + IMS
        movl $0x00100000, E1000 + ICS   /* RXQ0 -> vector 0 */
        WAIT COUNT_X0, 1
        movl $0x00400000, E1000 + ICS   /* TXQ0 -> vector 2 */
        WAIT COUNT_X2, 1
        movl $0x00800000, E1000 + ICS   /* TXQ1 -> vector 3, masked: pending */
        movl PBA, %edi
3:      pause
        testl $8, (%edi)
        jz 3b
        movw $DEBUG_PORT, %dx
        movb $'P', %al
        cmpl $0, COUNT_X3           /* a masked vector must not have arrived */
        je 4f
        movb $'!', %al
4:      outb %al, %dx
        movl TABLE, %edi
        movl $0, 0x3c(%edi)         /* unmasked: the pending interrupt arrives */
        WAIT COUNT_X3, 1
        movl $done + BASE, %esi
        jmp finish

nocap:  movl $nocap_text + BASE, %esi
finish: movw $DEBUG_PORT, %dx
5:      lodsb
        testb %al, %al
        jz 6f
        outb %al, %dx
        jmp 5b
6:      cli
        hlt
        jmp 6b

/* Config mechanism #1: address in %eax; cfg_read returns the dword in %eax, cfg_write writes
 * %ecx. */
cfg_read:
        pushl %edx
        movw $0xcf8, %dx
        outl %eax, %dx
        movw $0xcfc, %dx
        inl %dx, %eax
        popl %edx
        ret
cfg_write:
        pushl %edx
        movw $0xcf8, %dx
        outl %eax, %dx
        movw $0xcfc, %dx
        movl %ecx, %eax
        outl %eax, %dx
        popl %edx
        ret
/* The capability with id %cl of the function at config address %ebx: its offset in %eax, or 0
 * (at most 48 hops). */
find_cap:
        pushl %edi
        pushl %esi
        movl $48, %esi
        leal 0x34(%ebx), %eax
        call cfg_read
        andl $0xfc, %eax
7:      testl %eax, %eax
        jz 9f
        decl %esi
        jz 8f
        movl %eax, %edi
        orl %ebx, %eax
        call cfg_read
        cmpb %cl, %al
        je 10f
        shrl $8, %eax
        andl $0xfc, %eax
        jmp 7b
8:      xorl %eax, %eax
        jmp 9f
10:     movl %edi, %eax
9:      popl %esi
        popl %edi
        ret

edu_msi:
        pushl %eax
        pushl %edx
        movl EDU + 0x24, %eax       /* status */
        movl %eax, EDU + 0x64       /* acknowledge */
        incl COUNT_MSI
        movw $DEBUG_PORT, %dx
        movb $'M', %al
        outb %al, %dx
        movl $0, 0xfee000b0         /* LAPIC EOI */
        popl %edx
        popl %eax
ignore:
        iret
        HANDLER msix0, COUNT_X0, '0'
        HANDLER msix2, COUNT_X2, '2'
        HANDLER msix3, COUNT_X3, '3'

done:   .asciz "DONE\n"
nocap_text: .asciz "NOCAP\n"
        .p2align 3
gdt:    .quad 0
        .quad 0x00cf9a000000ffff    /* 0x08: flat code */
        .quad 0x00cf92000000ffff    /* 0x10: flat data */
gdt_desc:
        .word 23
        .long gdt + BASE
idt_desc:
        .word 256 * 8 - 1
        .long IDT

        .code16
        .org 0xfff0
        .byte 0xea                  /* ljmp $0xf000, $start16 */
        .word start16
        .word 0xf000
        .org 0x10000
