function __kubectl-kftray_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __kubectl-kftray_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __kubectl-kftray_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __kubectl-kftray_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __kubectl-kftray_parse_tokens -S
    set -l unparsed_tokens (__kubectl-kftray_tokens -pc)
    switch $unparsed_tokens[1]
    case 'kubectl-kftray'
        __kubectl-kftray_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'proxy'
            __kubectl-kftray_parse_subcommand -r 1 'kubeconfig=' 'context=' 'cluster=' 'user=' 'n/namespace=' 's/server=' 'certificate-authority=' 'insecure-skip-tls-verify=' 'tls-server-name=' 'token=' 'client-certificate=' 'client-key=' 'as=' 'as-group=+' 'as-uid=' 'request-timeout=' 'f/file=' 'alias=+' 'address=' 'image=' 'image-pull-secret=+' 'node-selector=+' 'toleration=+' 'requests=' 'limits=' 'pod-label=+' 'pod-annotation=+' 'patch=' 'patch-file=' 'pod-running-timeout=' 'socks=' 'socks-auth=' 'http-connect=' 'allow=+' 'socks-image=' 'transport=' 'v/verbose' 'o/output=' 'version' 'h/help'
        case 'doctor'
            __kubectl-kftray_parse_subcommand -r 1 'kubeconfig=' 'context=' 'cluster=' 'user=' 'n/namespace=' 's/server=' 'certificate-authority=' 'insecure-skip-tls-verify=' 'tls-server-name=' 'token=' 'client-certificate=' 'client-key=' 'as=' 'as-group=+' 'as-uid=' 'request-timeout=' 'f/file=' 'alias=+' 'o/output=' 'strict' 'skip-image-check' 'image=' 'image-pull-secret=+' 'node-selector=+' 'toleration=+' 'requests=' 'limits=' 'pod-label=+' 'pod-annotation=+' 'patch=' 'patch-file=' 'pod-running-timeout=' 'probe-image=' 'timeout=' 'version' 'h/help'
        case 'cleanup'
            __kubectl-kftray_parse_subcommand 0 'kubeconfig=' 'context=' 'cluster=' 'user=' 'n/namespace=' 's/server=' 'certificate-authority=' 'insecure-skip-tls-verify=' 'tls-server-name=' 'token=' 'client-certificate=' 'client-key=' 'as=' 'as-group=+' 'as-uid=' 'request-timeout=' 'A/all-namespaces' 'all' 'y/yes' 'dry-run' 'older-than=' 'l/selector=' 'stale-after=' 'include-kftray' 'o/output=' 'version' 'h/help'
        case 'version'
            __kubectl-kftray_parse_subcommand 0 'kubeconfig=' 'context=' 'cluster=' 'user=' 'n/namespace=' 's/server=' 'certificate-authority=' 'insecure-skip-tls-verify=' 'tls-server-name=' 'token=' 'client-certificate=' 'client-key=' 'as=' 'as-group=+' 'as-uid=' 'request-timeout=' 'client' 'o/output=' 'version' 'h/help'
        case 'completion'
            __kubectl-kftray_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'install'
                __kubectl-kftray_parse_subcommand 0 'dir=' 'version' 'h/help'
            case 'helper'
                __kubectl-kftray_parse_subcommand 0 'version' 'h/help'
            end
        case 'help'
            __kubectl-kftray_parse_subcommand -r 1 'version'
        end
    end
end

function __kubectl-kftray_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __kubectl-kftray_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __kubectl-kftray_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __kubectl-kftray_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__kubectl-kftray_tokens -p)
    if test -z "$(__kubectl-kftray_tokens -t)"
        set -l index (count (__kubectl-kftray_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'kubectl-kftray' -f
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'proxy' -d 'Forward local ports to addresses that only the cluster can reach.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'doctor' -d 'Explain why an address cannot be reached from the cluster, and what to do.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'cleanup' -d 'Find and delete relay and doctor pods left behind.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'version' -d 'Print the plugin version and the API server\'s version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'completion' -d 'Set up shell completion of kubectl kftray.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" kubeconfig' -l 'kubeconfig' -d 'Path to the kubeconfig file to use (only this file; KUBECONFIG is ignored).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" context' -l 'context' -d 'The name of the kubeconfig context to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" cluster' -l 'cluster' -d 'The name of the kubeconfig cluster to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" user' -l 'user' -d 'The name of the kubeconfig user to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" n namespace' -s 'n' -l 'namespace' -d 'The namespace to use (default: the context\'s, else "default").' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" s server' -s 's' -l 'server' -d 'The address and port of the Kubernetes API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" certificate-authority' -l 'certificate-authority' -d 'Path to a CA certificate file for the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" insecure-skip-tls-verify' -l 'insecure-skip-tls-verify' -d 'Do not verify the server\'s certificate (true/false).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" tls-server-name' -l 'tls-server-name' -d 'Server name to use for certificate validation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" token' -l 'token' -d 'Bearer token for authentication to the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" client-certificate' -l 'client-certificate' -d 'Path to a client certificate file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" client-key' -l 'client-key' -d 'Path to a client key file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" as' -l 'as' -d 'Username to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'as-group' -d 'Group to impersonate for the operation (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" as-uid' -l 'as-uid' -d 'UID to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" request-timeout' -l 'request-timeout' -d 'How long to wait for a single API call: 0 (no limit), seconds (5) or a duration (1m30s).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" f file' -s 'f' -l 'file' -d 'A kftray JSON file; its "proxy" entries run (- for stdin).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'alias' -d 'With -f: run only the entry with this alias (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" address' -l 'address' -d 'Local addresses to listen on, comma-separated IPs or localhost (default: localhost = 127.0.0.1 and ::1).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" image' -l 'image' -d 'The relay image (a kftray-server image; pin a tag or digest).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'image-pull-secret' -d 'An image pull secret for the relay pod (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'node-selector' -d 'A node selector for the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'toleration' -d 'A toleration for the relay pod, KEY[=VALUE][:EFFECT] (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" requests' -l 'requests' -d 'The relay\'s resource requests, e.g. cpu=10m,memory=16Mi.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" limits' -l 'limits' -d 'The relay\'s resource limits, e.g. cpu=500m,memory=64Mi.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'pod-label' -d 'An extra label on the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'pod-annotation' -d 'An extra annotation on the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" patch' -l 'patch' -d 'A JSON merge patch applied to the relay pod manifest.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" patch-file' -l 'patch-file' -d 'A file holding a JSON merge patch for the relay pod.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" pod-running-timeout' -l 'pod-running-timeout' -d 'How long a pod may take to be Ready (e.g. 60s, 2m).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" socks' -l 'socks' -d 'Also serve a SOCKS5 proxy on [ADDRESS:]PORT (address default 127.0.0.1) to any destination the cluster can reach; names resolve in the cluster.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" socks-auth' -l 'socks-auth' -d 'Require SOCKS5 username/password authentication (RFC 1929).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" http-connect' -l 'http-connect' -d 'Also serve an HTTP CONNECT proxy on [ADDRESS:]PORT (for HTTPS_PROXY/http_proxy).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy"' -l 'allow' -d 'With --socks/--http-connect: a destination the relay may reach: CIDR, host or *.suffix, optionally :PORT or :LOW-HIGH (repeatable; default everything).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" socks-image' -l 'socks-image' -d 'The image of the dynamic relay --socks and --http-connect use (our kftray-relay).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" transport' -l 'transport' -d 'The port-forward transport: auto (WebSocket, then SPDY), websocket or spdy.' -rfka 'auto websocket spdy'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" v verbose' -s 'v' -l 'verbose' -d 'Log every connection (open, close, bytes, errors) to stderr.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" o output' -s 'o' -l 'output' -d 'Output: text, or json (every event as one JSON object per line on stdout, for tools).' -rfka 'text json'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray proxy" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" kubeconfig' -l 'kubeconfig' -d 'Path to the kubeconfig file to use (only this file; KUBECONFIG is ignored).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" context' -l 'context' -d 'The name of the kubeconfig context to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" cluster' -l 'cluster' -d 'The name of the kubeconfig cluster to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" user' -l 'user' -d 'The name of the kubeconfig user to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" n namespace' -s 'n' -l 'namespace' -d 'The namespace to use (default: the context\'s, else "default").' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" s server' -s 's' -l 'server' -d 'The address and port of the Kubernetes API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" certificate-authority' -l 'certificate-authority' -d 'Path to a CA certificate file for the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" insecure-skip-tls-verify' -l 'insecure-skip-tls-verify' -d 'Do not verify the server\'s certificate (true/false).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" tls-server-name' -l 'tls-server-name' -d 'Server name to use for certificate validation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" token' -l 'token' -d 'Bearer token for authentication to the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" client-certificate' -l 'client-certificate' -d 'Path to a client certificate file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" client-key' -l 'client-key' -d 'Path to a client key file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" as' -l 'as' -d 'Username to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'as-group' -d 'Group to impersonate for the operation (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" as-uid' -l 'as-uid' -d 'UID to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" request-timeout' -l 'request-timeout' -d 'How long to wait for a single API call: 0 (no limit), seconds (5) or a duration (1m30s).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" f file' -s 'f' -l 'file' -d 'A kftray JSON file; its "proxy" entries are checked (- for stdin).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'alias' -d 'With -f: check only the entry with this alias (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" o output' -s 'o' -l 'output' -d 'Output format: table, json or yaml.' -rfka 'table json yaml'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" strict' -l 'strict' -d 'Count warnings as failures for the exit status.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" skip-image-check' -l 'skip-image-check' -d 'Do not start a relay pod to check that its image can be pulled.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" image' -l 'image' -d 'The relay image (a kftray-server image; pin a tag or digest).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'image-pull-secret' -d 'An image pull secret for the relay pod (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'node-selector' -d 'A node selector for the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'toleration' -d 'A toleration for the relay pod, KEY[=VALUE][:EFFECT] (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" requests' -l 'requests' -d 'The relay\'s resource requests, e.g. cpu=10m,memory=16Mi.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" limits' -l 'limits' -d 'The relay\'s resource limits, e.g. cpu=500m,memory=64Mi.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'pod-label' -d 'An extra label on the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor"' -l 'pod-annotation' -d 'An extra annotation on the relay pod, KEY=VALUE (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" patch' -l 'patch' -d 'A JSON merge patch applied to the relay pod manifest.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" patch-file' -l 'patch-file' -d 'A file holding a JSON merge patch for the relay pod.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" pod-running-timeout' -l 'pod-running-timeout' -d 'How long a pod may take to be Ready (e.g. 60s, 2m).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" probe-image' -l 'probe-image' -d 'The busybox image the in-cluster probes run in (pin a tag).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" timeout' -l 'timeout' -d 'Seconds each in-cluster connect, lookup or UDP reply may take (1-60).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" kubeconfig' -l 'kubeconfig' -d 'Path to the kubeconfig file to use (only this file; KUBECONFIG is ignored).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" context' -l 'context' -d 'The name of the kubeconfig context to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" cluster' -l 'cluster' -d 'The name of the kubeconfig cluster to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" user' -l 'user' -d 'The name of the kubeconfig user to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" n namespace' -s 'n' -l 'namespace' -d 'The namespace to use (default: the context\'s, else "default").' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" s server' -s 's' -l 'server' -d 'The address and port of the Kubernetes API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" certificate-authority' -l 'certificate-authority' -d 'Path to a CA certificate file for the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" insecure-skip-tls-verify' -l 'insecure-skip-tls-verify' -d 'Do not verify the server\'s certificate (true/false).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" tls-server-name' -l 'tls-server-name' -d 'Server name to use for certificate validation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" token' -l 'token' -d 'Bearer token for authentication to the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" client-certificate' -l 'client-certificate' -d 'Path to a client certificate file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" client-key' -l 'client-key' -d 'Path to a client key file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" as' -l 'as' -d 'Username to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup"' -l 'as-group' -d 'Group to impersonate for the operation (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" as-uid' -l 'as-uid' -d 'UID to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" request-timeout' -l 'request-timeout' -d 'How long to wait for a single API call: 0 (no limit), seconds (5) or a duration (1m30s).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" A all-namespaces' -s 'A' -l 'all-namespaces' -d 'Look in every namespace.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" all' -l 'all' -d 'Delete active pods too (asks first on a terminal, unless --yes).'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" y yes' -s 'y' -l 'yes' -d 'Do not ask before deleting active pods with --all.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" dry-run' -l 'dry-run' -d 'Only list what would be deleted.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" older-than' -l 'older-than' -d 'Only pods older than this (e.g. 1h, 30m).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" l selector' -s 'l' -l 'selector' -d 'A label selector narrowing the pods.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" stale-after' -l 'stale-after' -d 'A heartbeat older than this means orphaned (default 2m).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" include-kftray' -l 'include-kftray' -d 'Also find and delete the kftray desktop app\'s pods (kftray-forward-*, kftray-expose-*).'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" o output' -s 'o' -l 'output' -d 'Output format: table, json or yaml.' -rfka 'table json yaml'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray cleanup" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" kubeconfig' -l 'kubeconfig' -d 'Path to the kubeconfig file to use (only this file; KUBECONFIG is ignored).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" context' -l 'context' -d 'The name of the kubeconfig context to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" cluster' -l 'cluster' -d 'The name of the kubeconfig cluster to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" user' -l 'user' -d 'The name of the kubeconfig user to use.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" n namespace' -s 'n' -l 'namespace' -d 'The namespace to use (default: the context\'s, else "default").' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" s server' -s 's' -l 'server' -d 'The address and port of the Kubernetes API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" certificate-authority' -l 'certificate-authority' -d 'Path to a CA certificate file for the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" insecure-skip-tls-verify' -l 'insecure-skip-tls-verify' -d 'Do not verify the server\'s certificate (true/false).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" tls-server-name' -l 'tls-server-name' -d 'Server name to use for certificate validation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" token' -l 'token' -d 'Bearer token for authentication to the API server.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" client-certificate' -l 'client-certificate' -d 'Path to a client certificate file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" client-key' -l 'client-key' -d 'Path to a client key file for TLS.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" as' -l 'as' -d 'Username to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version"' -l 'as-group' -d 'Group to impersonate for the operation (repeatable).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" as-uid' -l 'as-uid' -d 'UID to impersonate for the operation.' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" request-timeout' -l 'request-timeout' -d 'How long to wait for a single API call: 0 (no limit), seconds (5) or a duration (1m30s).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" client' -l 'client' -d 'Print only the plugin version; do not contact the cluster.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" o output' -s 'o' -l 'output' -d 'Output format: text or json.' -rfka 'text json'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray version" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray completion" -eq 1' -fa 'install' -d 'Write kubectl_complete-kftray next to the plugin binary, for kubectl\'s completion.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_positional "kubectl-kftray completion" -eq 1' -fa 'helper' -d 'Print kubectl_complete-kftray, to install it yourself.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion install" dir' -l 'dir' -d 'The directory to write it to (default: the one kubectl-kftray runs from).' -rfka ''
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion install" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion install" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion helper" version' -l 'version' -d 'Show the version.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray completion helper" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'kubectl-kftray' -n '__kubectl-kftray_should_offer_completions_for_flags_or_options "kubectl-kftray help" version' -l 'version' -d 'Show the version.'
