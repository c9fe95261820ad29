/* A 64 KiB BIOS image for hvmd's kvm runner that takes a passed-through edu's INTx through the
 * IOAPIC, for run-vfio-kvm-intx.sh. It enters flat 32-bit protected mode, points every IDT
 * vector at an iret and vector 0x2b at the edu handler, enables the LAPIC, masks the 8259 PICs,
 * routes IOAPIC pin 11 (level-triggered, as PCI INTx) to vector 0x2b, gives edu at 00:05.0 its BAR0
 * (the INTx is bound then, its PIRQ link not yet routed), then routes PIRQ link B (slot 5, INTA#)
 * to IRQ 11 at the PIIX3 (the irqfd follows the route). Three times it asks edu for an interrupt
 * and spins with interrupts on until the handler counted it (not hlt: an interrupt already
 * pending when hlt comes returns to the hlt, which then waits for good); the handler reads edu's
 * status, acknowledges it, writes 'I' to the debug port 0x402 and EOIs the LAPIC (KVM's IOAPIC
 * then runs the irqfd's resampler). Then "DONE\n" and it halts for good. The interrupt's round
 * trip (VFIO -> KVM_IRQFD -> the guest's EOI -> resample eventfd -> VFIO unmask) never enters
 * hvmd. */
        .set BASE, 0xf0000          /* where the image runs (its copy below 1 MiB) */
        .set EDU, 0xfe000000        /* edu's BAR0 as this guest places it */
        .set IDT, 0x1000
        .set COUNT, 0x500
        .set DEBUG_PORT, 0x402

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
        /* IDT: every vector an iret, 0x2b the edu handler */
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
        movl $edu_irq + BASE, %eax
        movw %ax, IDT + 0x2b * 8
        shrl $16, %eax
        movw %ax, IDT + 0x2b * 8 + 6
        lidt idt_desc + BASE
        /* LAPIC: software enabled */
        movl $0x1ff, 0xfee000f0
        /* PICs: vectors 0x20 and 0x28, cascade on IRQ 2, all masked (the IOAPIC delivers) */
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
        /* IOAPIC pin 11: vector 0x2b, level-triggered, active low, to APIC 0 */
        movl $0x27, 0xfec00000
        movl $0, 0xfec00010
        movl $0x26, 0xfec00000
        movl $0x0000a02b, 0xfec00010
        /* edu at 00:05.0: BAR0, memory decoding + bus mastering */
        movw $0xcf8, %dx
        movl $0x80002810, %eax
        outl %eax, %dx
        movw $0xcfc, %dx
        movl $EDU, %eax
        outl %eax, %dx
        movw $0xcf8, %dx
        movl $0x80002804, %eax
        outl %eax, %dx
        movw $0xcfc, %dx
        movw $0x0006, %ax
        outw %ax, %dx
        /* PIIX3 (00:01.0) PIRQB route register 0x61 := IRQ 11 */
        movw $0xcf8, %dx
        movl $0x80000860, %eax
        outl %eax, %dx
        movw $0xcfd, %dx
        movb $11, %al
        outb %al, %dx

        movl $0, COUNT
        xorl %esi, %esi
round:
        movl $1, EDU + 0x60         /* raise interrupt: status bit 0 */
        sti
2:      pause                       /* spin, interrupts on, until the handler has counted */
        cmpl %esi, COUNT
        je 2b
        cli
        incl %esi
        cmpl $3, %esi
        jne round
        movw $DEBUG_PORT, %dx
        movl $done + BASE, %esi
3:      lodsb
        testb %al, %al
        jz 4f
        outb %al, %dx
        jmp 3b
4:      cli
        hlt
        jmp 4b

edu_irq:
        pushl %eax
        pushl %edx
        movl EDU + 0x24, %eax       /* status */
        movl %eax, EDU + 0x64       /* acknowledge: the device lowers INTx */
        incl COUNT
        movw $DEBUG_PORT, %dx
        movb $'I', %al
        outb %al, %dx
        movl $0, 0xfee000b0         /* LAPIC EOI */
        popl %edx
        popl %eax
ignore:
        iret

done:   .asciz "DONE\n"
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
