// Cost of page faults on this machine: touch a file mapping page-window by page-window, populate
// another with MADV_POPULATE_READ, and zero-fill 256 anonymous pages.
// gcc -O2 -o /tmp/pf benches/process/page_fault_probe.c && /tmp/pf "$(command -v cavra)"
#include <stdio.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int main(int c,char**v){int fd=open(v[1],O_RDONLY);off_t n=lseek(fd,0,SEEK_END);n&=~4095L;
 volatile char s=0;
 char*p=mmap(0,n,PROT_READ,MAP_PRIVATE,fd,0);double t=now();int k=0;
 for(off_t i=0;i<n;i+=65536){s+=p[i];k++;} double t1=now();
 printf("touch: %d faults-ish in %.0f us = %.2f us each\n",k,t1-t,(t1-t)/k);
 char*q=mmap(0,n,PROT_READ,MAP_PRIVATE,fd,0);t=now();int r=madvise(q,n,MADV_POPULATE_READ);t1=now();
 printf("populate %ld KB: rc=%d %.0f us\n",n/1024,r,t1-t);
 t=now();for(off_t i=0;i<n;i+=4096){s+=q[i];} t1=now(); printf("after populate touch all pages: %.0f us\n",t1-t);
 char*a=mmap(0,1<<20,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);t=now();for(int i=0;i<(1<<20);i+=4096)a[i]=1;t1=now();
 printf("anon 256 zero-fill faults: %.2f us each\n",(t1-t)/256);
}
