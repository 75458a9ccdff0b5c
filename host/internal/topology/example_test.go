package topology_test

import (
	"fmt"
	"log"

	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// Cores are told apart by their hardware threads: on the seed machine cpu 0
// and cpu 48 both have core id 0, on different packages.
func ExampleMachine_Cores() {
	m, err := topology.Load("../../../testdata/machines/seed.json")
	if err != nil {
		log.Fatal(err)
	}
	a, _ := m.CPU(0)
	b, _ := m.CPU(48)
	fmt.Println("core ids:", a.Core, b.Core)
	fmt.Println("cores:", m.Cores(cpuset.New(0, 48)))

	z, err := topology.Load("../../../testdata/machines/zen3-7543.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("zen3 cores of 0,1,33:", z.Cores(cpuset.New(0, 1, 33)))
	fmt.Println("zen3 L3 group 1:", z.L3Groups()[1].CPUs)
	// Output:
	// core ids: 0 0
	// cores: [0 48]
	// zen3 cores of 0,1,33: [0,32 1,33]
	// zen3 L3 group 1: 8-15,40-47
}
