// Contended counter: 4 goroutines x 2,500,000 increments of one counter
// under a sync.Mutex (run with GOMAXPROCS=2 and 4).
package main

import (
	"fmt"
	"sync"
)

func main() {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2500000; i++ {
				mu.Lock()
				counter = counter + 1
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println(counter)
}
