package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Configuration of the openstack mode: the agent's target block (SetConfig) only, so the
// credentials stay in the agent's configuration or environment, never in a policy. The policy's
// target block holds the Nomad side (node_class, datacenter, node_drain_deadline,
// node_selector_strategy, node_purge) as for the SDK's cloud targets.
const (
	// Authentication: the names of clouds.yaml; each falls back to the OS_* variable of the
	// autoscaler's environment (auth_url -> OS_AUTH_URL, ...).
	keyAuthURL            = "auth_url"
	keyAppCredID          = "application_credential_id"
	keyAppCredSecret      = "application_credential_secret"
	keyUsername           = "username"
	keyPassword           = "password"
	keyUserDomainName     = "user_domain_name"
	keyProjectID          = "project_id"
	keyProjectName        = "project_name"
	keyProjectDomainName  = "project_domain_name"
	keyRegionName         = "region_name"
	keyGroup              = "group"       // the worker group: Nova metadata throwbox-worker-group
	keyNamePrefix         = "name_prefix" // names of the servers this plugin creates (default <group>-as-)
	keyFlavorID           = "flavor_id"
	keyImageID            = "image_id"
	keyNetworkID          = "network_id"
	keySecurityGroups     = "security_groups" // comma-separated names or IDs
	keyUserDataFile       = "user_data_file"  // the worker's cloud-init user data (node-config)
	keyKeyName            = "key_name"
	keyAvailabilityZone   = "availability_zone"
	keyBuildTimeout       = "server_build_timeout"  // the longest a new server may stay in BUILD (default 10m)
	keyDeleteTimeout      = "server_delete_timeout" // the longest a deleted server may take to go (default 5m)
	keyOSPollInterval     = "openstack_poll_interval"
	keyNodeAddressAttr    = "node_address_attribute" // Nomad node attribute holding the server's fixed IP
	defaultBuildTimeout   = 10 * time.Minute
	defaultDeleteTimeout  = 5 * time.Minute
	defaultOSPollInterval = 5 * time.Second
	defaultNodeAddrAttr   = "unique.network.ip-address"
	defaultDomainName     = "Default"
	// Nova takes at most 65535 bytes of base64 user data: 49149 bytes before encoding.
	maxUserDataBytes = 65535 / 4 * 3
)

// Nova metadata of the group's servers. Terraform's fixed workers carry the group key only;
// servers this plugin creates also carry metaAutoscaled, and only those are ever deleted.
const (
	metaGroup      = "throwbox-worker-group"
	metaAutoscaled = "throwbox-autoscaled"
	metaRole       = "throwbox-role"
)

var groupPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// osConfig is the validated openstack-mode configuration.
type osConfig struct {
	authURL, appCredID, appCredSecret         string
	username, password, userDomainName        string
	projectID, projectName, projectDomain     string
	region                                    string
	group, namePrefix                         string
	flavorID, imageID, networkID              string
	securityGroups                            []string
	userData                                  []byte
	keyName, availabilityZone                 string
	buildTimeout, deleteTimeout, pollInterval time.Duration
	nodeAddressAttribute                      string
}

// parseOSConfig validates config; getenv supplies the OS_* fallbacks (os.Getenv in the plugin)
// and readFile the user data file.
func parseOSConfig(config map[string]string, getenv func(string) string, readFile func(string) ([]byte, error)) (*osConfig, error) {
	var errs []string
	get := func(key string) string {
		if v := strings.TrimSpace(config[key]); v != "" {
			return v
		}
		return strings.TrimSpace(getenv("OS_" + strings.ToUpper(key)))
	}
	plain := func(key, def string) string {
		if v := strings.TrimSpace(config[key]); v != "" {
			return v
		}
		return def
	}
	required := func(key string) string {
		v := plain(key, "")
		if v == "" {
			errs = append(errs, fmt.Sprintf("%s is required", key))
		}
		return v
	}
	duration := func(key string, def time.Duration) time.Duration {
		v := plain(key, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s: %q is not a positive duration", key, v))
		}
		return d
	}

	c := &osConfig{
		authURL:        get(keyAuthURL),
		appCredID:      get(keyAppCredID),
		appCredSecret:  get(keyAppCredSecret),
		username:       get(keyUsername),
		password:       get(keyPassword),
		userDomainName: get(keyUserDomainName),
		projectID:      get(keyProjectID),
		projectName:    get(keyProjectName),
		projectDomain:  get(keyProjectDomainName),
		region:         get(keyRegionName),
	}
	switch {
	case c.authURL == "":
		errs = append(errs, "auth_url (or OS_AUTH_URL) is required")
	case !strings.HasPrefix(c.authURL, "http://") && !strings.HasPrefix(c.authURL, "https://"):
		errs = append(errs, fmt.Sprintf("auth_url: %q is not an http(s) URL", c.authURL))
	}
	switch {
	case c.appCredID != "" || c.appCredSecret != "":
		// An application credential is scoped to its project already.
		if c.appCredID == "" || c.appCredSecret == "" {
			errs = append(errs, "application_credential_id and application_credential_secret go together")
		}
	case c.username != "" || c.password != "":
		if c.username == "" || c.password == "" {
			errs = append(errs, "username and password go together")
		}
		if c.projectID == "" && c.projectName == "" {
			errs = append(errs, "password authentication needs project_id or project_name")
		}
		if c.userDomainName == "" {
			c.userDomainName = defaultDomainName
		}
		if c.projectID == "" && c.projectDomain == "" {
			c.projectDomain = defaultDomainName
		}
	default:
		errs = append(errs, "no credentials: set application_credential_id/_secret or username/password (or their OS_* variables)")
	}

	c.group = required(keyGroup)
	if c.group != "" && !groupPattern.MatchString(c.group) {
		errs = append(errs, fmt.Sprintf("group: %q must be 1-63 lower-case letters, digits and dashes", c.group))
	}
	c.namePrefix = plain(keyNamePrefix, c.group+"-as-")
	if !groupPattern.MatchString(strings.TrimSuffix(c.namePrefix, "-")) || len(c.namePrefix) > 54 {
		// Names become host names (and Nomad node names): DNS-safe, room for the 8-hex suffix.
		errs = append(errs, fmt.Sprintf("name_prefix: %q must be at most 54 lower-case letters, digits and dashes", c.namePrefix))
	}
	c.flavorID = required(keyFlavorID)
	c.imageID = required(keyImageID)
	c.networkID = required(keyNetworkID)
	for _, g := range strings.Split(plain(keySecurityGroups, ""), ",") {
		if g = strings.TrimSpace(g); g != "" {
			c.securityGroups = append(c.securityGroups, g)
		}
	}
	if path := required(keyUserDataFile); path != "" {
		data, err := readFile(path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("user_data_file: %v", err))
		case len(data) == 0:
			errs = append(errs, fmt.Sprintf("user_data_file: %s is empty", path))
		case len(data) > maxUserDataBytes:
			errs = append(errs, fmt.Sprintf("user_data_file: %s has %d bytes, Nova takes at most %d", path, len(data), maxUserDataBytes))
		}
		c.userData = data
	}
	c.keyName = plain(keyKeyName, "")
	c.availabilityZone = plain(keyAvailabilityZone, "")
	c.buildTimeout = duration(keyBuildTimeout, defaultBuildTimeout)
	c.deleteTimeout = duration(keyDeleteTimeout, defaultDeleteTimeout)
	c.pollInterval = duration(keyOSPollInterval, defaultOSPollInterval)
	c.nodeAddressAttribute = plain(keyNodeAddressAttr, defaultNodeAddrAttr)

	if len(errs) > 0 {
		return nil, fmt.Errorf("openstack target config: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// readUserData is the plugin's readFile.
func readUserData(path string) ([]byte, error) { return os.ReadFile(path) }
