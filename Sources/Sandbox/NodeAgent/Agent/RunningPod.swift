import KubeletAPI

/// A pod this node runs, as its kubelet API serves it: the network namespace (nil before the pod has
/// its network and after it is torn down), each container's current log file
/// (`<logRoot>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`) and why containers without a log
/// yet are waiting. The kubelet's own type: the agent is that kubelet's pod source.
public typealias RunningPod = KubeletPod
