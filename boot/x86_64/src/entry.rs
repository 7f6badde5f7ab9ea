//! The multiboot2 header and the 32-bit entry that switches to long mode.
//!
//! GRUB enters `_start` in 32-bit protected mode with paging off, EAX = the
//! multiboot2 magic and EBX = the boot information address. This code checks
//! for long mode, maps the low 4 GiB with 2 MiB pages twice (identity, and
//! the direct map at `PHYS_OFFSET`, PML4 slot 256, sharing one PDPT), enables PAE,
//! long mode, NX (when present), paging and write protection, loads a
//! minimal 64-bit GDT, and calls `kernel_main(magic, info)` on a 64 KiB
//! boot stack with a null frame pointer (the end of every backtrace).

core::arch::global_asm!(
    r#"
    .set MB2_MAGIC, 0xe85250d6
    .set MB2_ARCH_I386, 0
    .set MB2_LENGTH, mb2_header_end - mb2_header_start

    .section .multiboot2_header, "a"
    .balign 8
mb2_header_start:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long MB2_LENGTH
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + MB2_LENGTH)
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .boot.text, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    movl $boot_stack_top, %esp
    movl %eax, %edi
    movl %ebx, %esi

    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode
    movl %edx, %ebp

    movl $boot_pdpt, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl %eax, boot_pml4 + 256 * 8

    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt
    addl $4096, %eax
    movl %eax, boot_pdpt + 8
    addl $4096, %eax
    movl %eax, boot_pdpt + 16
    addl $4096, %eax
    movl %eax, boot_pdpt + 24

    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(, %ecx, 8)
    movl %ecx, %eax
    shrl $11, %eax
    movl %eax, boot_pd + 4(, %ecx, 8)
    incl %ecx
    cmpl $2048, %ecx
    jne 1b

    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4

    movl $0xc0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    testl $(1 << 20), %ebp
    jz 2f
    orl $(1 << 11), %eax
2:
    wrmsr

    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16)), %eax
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

no_long_mode:
    movl $no_long_mode_message, %esi
3:
    movb (%esi), %al
    testb %al, %al
    jz 4f
    movw $0x3f8, %dx
    outb %al, %dx
    incl %esi
    jmp 3b
4:
    cli
    hlt
    jmp 4b

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movl %edi, %edi
    movl %esi, %esi
    xorl %ebp, %ebp
    call kernel_main
5:
    cli
    hlt
    jmp 5b

    .section .rodata.boot, "a"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00209a0000000000
    .quad 0x0000920000000000
boot_gdt_pointer:
    .short boot_gdt_pointer - boot_gdt - 1
    .long boot_gdt
no_long_mode_message:
    .asciz "exo: this CPU has no 64-bit long mode; halting\r\n"

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip 64 * 1024
    .global boot_stack_top
boot_stack_top:
"#,
    options(att_syntax)
);
