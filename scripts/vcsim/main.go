// ccds-vcsim: a vCenter simulator for ccds's vSphere tests, built from Debian's govmomi
// (golang-github-vmware-govmomi-dev) because Debian ships no vcsim command.
//
// It serves govmomi's VPX model (datacenter DC0, cluster DC0_C0, datastore LocalDS_0, networks
// "VM Network" and DC0_DVPG0, four powered-on VMs usable as clone sources) over TLS with its
// own self-signed certificate, and registers the vAPI (REST: tags, sessions), PBM, STS,
// lookup and CNS simulators that terraform-provider-vsphere and pyvmomi call.
//
// On start it prints one line of JSON to stdout:
//
//	{"url": "https://127.0.0.1:PORT/sdk", "host": "127.0.0.1", "port": PORT, "pid": PID,
//	 "cert": "/path/to/cert.pem"}
//
// and then serves until SIGINT/SIGTERM.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	_ "github.com/vmware/govmomi/cns/simulator"
	_ "github.com/vmware/govmomi/lookup/simulator"
	_ "github.com/vmware/govmomi/pbm/simulator"
	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/sts/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// fixups is a registry handler that makes the simulated inventory look like what a real vCenter
// reports where govmomi 0.24's model does not, so that terraform-provider-vsphere 2.0.2 can clone:
//
//   - every virtual disk has a backing UUID: the provider finds a clone's disks by UUID
//     ("disk UUID is missing" otherwise);
//   - every network card has a resource allocation (limit, reservation, shares): the provider
//     dereferences it when it reads a VM and crashed without it;
//   - a clone owns its devices: the simulator's CloneVM_Task hands the source VM's device objects
//     to the clone (so both would share one disk backing and file name); the clone gets copies
//     with new disk UUIDs and the source keeps its own file name;
//   - a powered-on VM reports a guest address, as VMware Tools does once DHCP answered: one per
//     network card from -guest-net (loopback by default, so nothing ever leaves the machine);
//     a powered-off VM reports none.
type fixups struct {
	self   types.ManagedObjectReference
	mu     sync.Mutex
	owner  map[types.BaseVirtualDevice]types.ManagedObjectReference
	files  map[*types.VirtualDiskFlatVer2BackingInfo]string
	base   net.IP
	size   uint32
	leases map[types.ManagedObjectReference][]string
	next   uint32
}

func newFixups(cidr string) (*fixups, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("-guest-net must be an IPv4 CIDR, got %q", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if bits-ones < 4 {
		return nil, fmt.Errorf("-guest-net %q is too small", cidr)
	}
	return &fixups{
		self:   types.ManagedObjectReference{Type: "CcdsFixups", Value: "ccds-fixups"},
		owner:  make(map[types.BaseVirtualDevice]types.ManagedObjectReference),
		files:  make(map[*types.VirtualDiskFlatVer2BackingInfo]string),
		base:   ipnet.IP.To4(),
		size:   uint32(1) << uint(bits-ones),
		leases: make(map[types.ManagedObjectReference][]string),
		next:   2, // .1 is the gateway
	}, nil
}

func (f *fixups) Reference() types.ManagedObjectReference { return f.self }

func (f *fixups) PutObject(obj mo.Reference) {
	if vm, ok := obj.(*simulator.VirtualMachine); ok && vm.Config != nil {
		f.devices(vm.Self, vm.Config.Hardware.Device)
	}
}

func (f *fixups) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachine" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for d, o := range f.owner {
		if o == ref {
			delete(f.owner, d)
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					delete(f.files, b)
				}
			}
		}
	}
	delete(f.leases, ref)
}

func (f *fixups) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		switch c.Name {
		case "config.hardware.device":
			if vm.Config != nil {
				f.devices(vm.Self, vm.Config.Hardware.Device)
			}
		case "runtime.powerState":
			if state, ok := c.Val.(types.VirtualMachinePowerState); ok {
				f.power(vm, state)
			}
		}
	}
}

// devices fixes one VM's device list in place.
func (f *fixups) devices(ref types.ManagedObjectReference, list []types.BaseVirtualDevice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range list {
		if o, seen := f.owner[d]; seen && o != ref {
			d = f.copyDevice(d)
			list[i] = d
		}
		f.owner[d] = ref
		switch x := d.(type) {
		case *types.VirtualDisk:
			if b, ok := x.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				if b.Uuid == "" {
					b.Uuid = uuid.New().String()
				}
				f.files[b] = b.FileName
			}
		case types.BaseVirtualEthernetCard:
			card := x.GetVirtualEthernetCard()
			if card.ResourceAllocation == nil {
				card.ResourceAllocation = &types.VirtualEthernetCardResourceAllocation{
					Limit:       types.NewInt64(-1),
					Reservation: types.NewInt64(0),
					Share:       types.SharesInfo{Shares: 50, Level: types.SharesLevelNormal},
				}
			}
		}
	}
}

// copyDevice returns a shallow copy of a device another VM owns; a disk also gets its own backing
// (new UUID, the clone's file name) and the owner's backing gets its file name back.
func (f *fixups) copyDevice(d types.BaseVirtualDevice) types.BaseVirtualDevice {
	v := reflect.New(reflect.TypeOf(d).Elem())
	v.Elem().Set(reflect.ValueOf(d).Elem())
	c := v.Interface().(types.BaseVirtualDevice)
	if disk, ok := c.(*types.VirtualDisk); ok {
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			nb := *b
			nb.Uuid = uuid.New().String()
			disk.Backing = &nb
			if name, known := f.files[b]; known {
				b.FileName = name
			}
		}
	}
	if card, ok := c.(types.BaseVirtualEthernetCard); ok {
		e := card.GetVirtualEthernetCard()
		if e.ResourceAllocation != nil {
			ra := *e.ResourceAllocation
			e.ResourceAllocation = &ra
		}
	}
	return c
}

// power sets or clears the guest addresses when a VM is powered on or off.
func (f *fixups) power(vm *mo.VirtualMachine, state types.VirtualMachinePowerState) {
	nets := append([]types.GuestNicInfo(nil), vm.Guest.Net...)
	primary := ""
	var stack []types.GuestStackInfo
	if state == types.VirtualMachinePowerStatePoweredOn {
		ones := 32 - bitsOf(f.size)
		for i := range nets {
			ip := f.lease(vm.Self, i)
			if primary == "" {
				primary = ip
			}
			nets[i].IpAddress = []string{ip}
			nets[i].IpConfig = &types.NetIpConfigInfo{IpAddress: []types.NetIpConfigInfoIpAddress{{
				IpAddress: ip, PrefixLength: int32(ones), State: "preferred", Origin: "dhcp"}}}
		}
		gw := f.addr(1)
		stack = []types.GuestStackInfo{{IpRouteConfig: &types.NetIpRouteConfigInfo{
			IpRoute: []types.NetIpRouteConfigInfoIpRoute{{
				Network: "0.0.0.0", PrefixLength: 0,
				Gateway: types.NetIpRouteConfigInfoGateway{IpAddress: gw},
			}},
		}}}
	} else {
		for i := range nets {
			nets[i].IpAddress = nil
			nets[i].IpConfig = nil
		}
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "guest.net", Val: nets},
		{Name: "guest.ipStack", Val: stack},
		{Name: "guest.ipAddress", Val: primary},
		{Name: "summary.guest.ipAddress", Val: primary},
	})
}

func (f *fixups) lease(ref types.ManagedObjectReference, nic int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.leases[ref]) <= nic {
		if f.next >= f.size-1 {
			f.next = 2 // wrap around: a test never holds that many VMs at once
		}
		f.leases[ref] = append(f.leases[ref], f.addr(f.next))
		f.next++
	}
	return f.leases[ref][nic]
}

func (f *fixups) addr(n uint32) string {
	b := f.base
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) + n
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
}

func bitsOf(size uint32) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

// dvsManager answers DVSManagerLookupDvPortGroup, which govmomi 0.24's simulator does not
// implement: terraform-provider-vsphere calls it to resolve the port group a cloned network card
// is on when the source VM's card is on a distributed port group (vcsim's VMs are).
type dvsManager struct {
	mo.DistributedVirtualSwitchManager
}

func (m *dvsManager) DVSManagerLookupDvPortGroup(req *types.DVSManagerLookupDvPortGroup) soap.HasFault {
	body := new(methods.DVSManagerLookupDvPortGroupBody)
	for _, e := range simulator.Map.All("DistributedVirtualSwitch") {
		dvs := e.(*simulator.DistributedVirtualSwitch)
		if dvs.Uuid != req.SwitchUuid {
			continue
		}
		for _, ref := range dvs.Portgroup {
			if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Key == req.PortgroupKey {
				self := pg.Self
				body.Res = &types.DVSManagerLookupDvPortGroupResponse{Returnval: &self}
				return body
			}
		}
	}
	body.Fault_ = simulator.Fault(fmt.Sprintf("no port group %q on switch %q", req.PortgroupKey, req.SwitchUuid),
		&types.NotFound{})
	return body
}

func installDVSManager(content types.ServiceContent) {
	if content.DvSwitchManager == nil {
		return
	}
	m := &dvsManager{}
	if old, ok := simulator.Map.Get(*content.DvSwitchManager).(*mo.DistributedVirtualSwitchManager); ok {
		m.DistributedVirtualSwitchManager = *old
	}
	m.Self = *content.DvSwitchManager
	simulator.Map.Put(m)
}

// categoryPath is where terraform-provider-vsphere 2.0.2 creates tag categories (vAPI REST).
const categoryPath = "/rest/com/vmware/cis/tagging/category"

// localTypes strips the "urn:vim25:" namespace the provider puts before each associable type
// when it creates a tag category. vCenter answers with the plain type ("VirtualMachine"), as the
// provider's configuration names it; govmomi 0.24's vAPI simulator stored and returned the
// namespaced form, so every plan after the first wanted to "remove" the plain type and failed.
func localTypes(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			var body map[string]map[string]interface{}
			raw, err := ioutil.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil && json.Unmarshal(raw, &body) == nil {
				if spec, ok := body["create_spec"]; ok {
					if types, ok := spec["associable_types"].([]interface{}); ok {
						for i, t := range types {
							if name, ok := t.(string); ok {
								types[i] = strings.TrimPrefix(name, "urn:vim25:")
							}
						}
					}
				}
				if fixed, err := json.Marshal(body); err == nil {
					raw = fixed
				}
			}
			r = r.Clone(r.Context())
			r.Body = ioutil.NopCloser(bytes.NewReader(raw))
			r.ContentLength = int64(len(raw))
		}
		// the vAPI simulator, registered for "/rest/" once the server is built
		h, _ := mux.Handler(&http.Request{Method: r.Method, URL: &url.URL{Path: "/rest/"}})
		h.ServeHTTP(w, r)
	}
}

// selfSigned makes the server's certificate: ECDSA P-256 for 127.0.0.1, ::1 and localhost, valid
// for a day (the certificate govmomi bundles has a key OpenSSL now refuses as too weak).
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ccds-vcsim", Organization: []string{"ccds test vCenter"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	user := flag.String("username", "ccds", "the one user name the simulator accepts")
	pass := flag.String("password", "", "the one password the simulator accepts (required)")
	guestNet := flag.String("guest-net", "127.77.0.0/16", "addresses powered-on VMs report (IPv4 CIDR; .1 is their gateway)")
	vcenterLike := flag.Bool("vcenter-like", true, "apply the fixups below (false: govmomi's simulator as it is, to show what it lacks)")
	certOut := flag.String("cert-out", "", "write the server's PEM certificate here")
	flag.Parse()
	if *pass == "" {
		log.Fatal("-password is required")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
		log.Fatalf("-listen must be a loopback host:port, got %q", *listen)
	}

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	model.Service.RegisterEndpoints = true
	if model.Service.ServeMux == nil {
		model.Service.ServeMux = http.NewServeMux()
	}
	if *vcenterLike {
		fix, err := newFixups(*guestNet)
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range simulator.Map.All("VirtualMachine") {
			vm := e.(*simulator.VirtualMachine)
			fix.devices(vm.Self, vm.Config.Hardware.Device)
			if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
				fix.power(&vm.VirtualMachine, vm.Runtime.PowerState)
			}
		}
		simulator.Map.AddHandler(fix)
		installDVSManager(model.ServiceContent)
		model.Service.ServeMux.HandleFunc(categoryPath, localTypes(model.Service.ServeMux))
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()

	if *certOut != "" {
		block := &pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}
		if err := ioutil.WriteFile(*certOut, pem.EncodeToMemory(block), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	h, p, _ := net.SplitHostPort(server.URL.Host)
	port, _ := strconv.Atoi(p)
	u := *server.URL
	u.User = nil
	line, _ := json.Marshal(map[string]interface{}{
		"url": u.String(), "host": h, "port": port, "pid": os.Getpid(), "cert": *certOut,
	})
	fmt.Println(string(line))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
